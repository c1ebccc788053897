package snapshot

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/labels"
)

// Keeper is a person who keeps images: the KeptBy label of their config file, and its value.
type Keeper struct {
	Key, ConfigPath string
}

// KeeperOf is the person whose config file is configPath, on a host of view (config.View).
func KeeperOf(view, configPath string) Keeper {
	return Keeper{Key: labels.KeptBy(view, configPath), ConfigPath: configPath}
}

// Keep puts k's label on the image img when it does not carry it yet (one update of that label
// alone, so what other people's labels say is left as it is).
func (k Keeper) Keep(ctx context.Context, c *containerd.Client, img images.Image) error {
	if k.Key == "" || img.Labels[k.Key] == k.ConfigPath {
		return nil
	}
	return k.set(ctx, c, img.Name, k.ConfigPath)
}

// set gives k's label on image name the value v; "" removes it.
func (k Keeper) set(ctx context.Context, c *containerd.Client, name, v string) error {
	_, err := c.ImageService().Update(ctx, images.Image{Name: name, Labels: map[string]string{k.Key: v}}, "labels."+k.Key)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("mark %s as kept: %w", name, err)
	}
	return nil
}

// Sync makes k's label sit on the images named in refs that exist, and, with drop, on no
// other image: what the person's config names now, after a build, an update or before a gc.
func (k Keeper) Sync(ctx context.Context, c *containerd.Client, refs map[string]bool, drop bool) error {
	all, err := c.ImageService().List(ctx, labels.HasKey(labels.Tier))
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	for _, img := range all {
		switch want := refs[img.Name]; {
		case want:
			err = k.Keep(ctx, c, img)
		case drop && img.Labels[k.Key] != "":
			err = k.set(ctx, c, img.Name, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// PruneMarks removes, from the images in imgs, the KeptBy labels of people alive says no longer
// keep anything (their config is gone): a mark that keeps nothing is not left to pile up.
func PruneMarks(ctx context.Context, c *containerd.Client, imgs []images.Image, alive func(view, path string) bool) (int, error) {
	n := 0
	for _, img := range imgs {
		for k, v := range img.Labels {
			view, ok := labels.KeptByView(k)
			if !ok || alive == nil || alive(view, v) {
				continue
			}
			if err := (Keeper{Key: k}).set(ctx, c, img.Name, ""); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
