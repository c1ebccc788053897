package snapshot

import (
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/aishell/aishell/labels"
)

func TestPlanGC(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	img := func(name string, l ...string) images.Image {
		i := images.Image{Name: name, Labels: map[string]string{}, CreatedAt: now.Add(-24 * time.Hour)}
		for k := 0; k+1 < len(l); k += 2 {
			i.Labels[l[k]] = l[k+1]
		}
		return i
	}
	harness := func(name string) images.Image { return img(name, labels.Tier, labels.TierHarness) }
	foundation := func(name string) images.Image { return img(name, labels.Tier, labels.TierFoundation) }
	alias := func(name, target string) images.Image {
		return img(name, labels.Tier, labels.TierFoundation, labels.AliasOf, target)
	}
	extension := func(name, project string) images.Image {
		return img(name, labels.Tier, labels.TierExtension, labels.Project, project)
	}
	userBase := func(name, dockerfile string) images.Image {
		return img(name, labels.Tier, labels.TierUserBase, labels.UserDockerfile, dockerfile)
	}
	temp := func(name string, age time.Duration) images.Image {
		i := img(labels.TempTag(name, "0a1b2c3d"))
		i.CreatedAt = now.Add(-age)
		return i
	}
	liveProject := func(project string) bool { return project == "/src/alive" }

	const (
		claude1 = "aishell/harness-claude:1.0.0"
		claude2 = "aishell/harness-claude:2.0.0"
		found1  = "aishell:foundation-111111111111"
		found2  = "aishell:foundation-222222222222"
	)
	for _, c := range []struct {
		name          string
		tiered        []images.Image
		everything    []images.Image // besides tiered
		used          map[string]int
		keep          map[string]bool
		projectAlive  func(string) bool
		userBaseAlive func(string) bool
		keeperAlive   func(view, path string) bool
		building      bool
		unused, tmp   []string
	}{
		{name: "user base of a live Dockerfile stays, of a gone one goes",
			tiered:        []images.Image{userBase("aishell:user-aaaaaaaaaaaa", "/home/a/.config/aishell/Dockerfile"), userBase("aishell:user-bbbbbbbbbbbb", "/home/b/.config/aishell/Dockerfile")},
			userBaseAlive: func(p string) bool { return p == "/home/a/.config/aishell/Dockerfile" }, unused: []string{"aishell:user-bbbbbbbbbbbb"}},
		{name: "user base with a nil UserBaseAlive stays",
			tiered: []images.Image{userBase("aishell:user-bbbbbbbbbbbb", "/gone")}},
		{name: "used user base of a gone Dockerfile stays",
			tiered: []images.Image{userBase("aishell:user-bbbbbbbbbbbb", "/gone")}, used: map[string]int{"aishell:user-bbbbbbbbbbbb": 1},
			userBaseAlive: func(string) bool { return false }},
		{name: "unused harness goes", tiered: []images.Image{harness(claude1)}, unused: []string{claude1}},
		{name: "kept harness stays", tiered: []images.Image{harness(claude1), harness(claude2)},
			keep: map[string]bool{claude2: true}, unused: []string{claude1}},
		{name: "a harness kept by another person's config stays, by nobody's goes",
			tiered: []images.Image{img(claude1, labels.Tier, labels.TierHarness, labels.KeptBy("v1", "/home/a/.config/aishell/config.yaml"), "/home/a/.config/aishell/config.yaml"), harness(claude2)},
			keep:   map[string]bool{}, unused: []string{claude2}},
		{name: "a foundation kept by a person stays",
			tiered: []images.Image{img(found1, labels.Tier, labels.TierFoundation, labels.KeptBy("v1", "/root/.config/aishell/config.yaml"), "/root/.config/aishell/config.yaml")}},
		{name: "a harness kept only by a person whose config is gone goes",
			tiered: []images.Image{
				img(claude1, labels.Tier, labels.TierHarness, labels.KeptBy("v1", "/home/gone/.config/aishell/config.yaml"), "/home/gone/.config/aishell/config.yaml"),
				img(claude2, labels.Tier, labels.TierHarness, labels.KeptBy("v1", "/home/gone/.config/aishell/config.yaml"), "/home/gone/.config/aishell/config.yaml",
					labels.KeptBy("v1", "/home/a/.config/aishell/config.yaml"), "/home/a/.config/aishell/config.yaml")},
			keeperAlive: func(view, p string) bool { return view == "v1" && p == "/home/a/.config/aishell/config.yaml" }, unused: []string{claude1}},
		{name: "while a build is under way no harness or foundation goes, an orphaned extension does",
			tiered:       []images.Image{harness(claude1), foundation(found1), extension("aishell:ext-bbbbbbbbbbbb", "/src/gone")},
			projectAlive: liveProject, building: true, unused: []string{"aishell:ext-bbbbbbbbbbbb"}},
		{name: "used harness stays", tiered: []images.Image{harness(claude1), harness(claude2)},
			used: map[string]int{claude1: 2}, unused: []string{claude2}},
		{name: "a zero in-use count does not keep", tiered: []images.Image{harness(claude1)},
			used: map[string]int{claude1: 0}, unused: []string{claude1}},
		{name: "alias targets and alias tags stay, an old foundation goes",
			tiered: []images.Image{foundation(found1), foundation(found2), alias("aishell:foundation", found2), alias("aishell:base", found2)},
			unused: []string{found1}},
		{name: "unused foundation goes", tiered: []images.Image{foundation(found1)}, unused: []string{found1}},
		{name: "extension of a live project stays, of a gone one goes",
			tiered:       []images.Image{extension("aishell:ext-aaaaaaaaaaaa", "/src/alive"), extension("aishell:ext-bbbbbbbbbbbb", "/src/gone")},
			projectAlive: liveProject, unused: []string{"aishell:ext-bbbbbbbbbbbb"}},
		{name: "extension with a nil ProjectAlive stays",
			tiered: []images.Image{extension("aishell:ext-bbbbbbbbbbbb", "/src/gone")}},
		{name: "used extension of a gone project stays",
			tiered:       []images.Image{extension("aishell:ext-bbbbbbbbbbbb", "/src/gone")},
			used:         map[string]int{"aishell:ext-bbbbbbbbbbbb": 1},
			projectAlive: liveProject},
		{name: "images without a tier label are never touched",
			tiered:       []images.Image{img("docker.io/library/debian:bookworm"), img("aishell:odd", labels.Tier, "something-else")},
			everything:   []images.Image{img("docker.io/library/alpine:latest"), img("aishell/harness-claude:3.0.0", labels.Harness, "claude")},
			projectAlive: func(string) bool { return false }},
		{name: "temp build tag older than an hour goes, a younger one stays",
			everything: []images.Image{temp(claude1, 2*time.Hour), temp(claude2, 10*time.Minute), temp(found1, time.Hour), temp(found2, time.Hour+time.Second)},
			tmp:        []string{labels.TempTag(claude1, "0a1b2c3d"), labels.TempTag(found2, "0a1b2c3d")}},
		{name: "an old image that is not a temp tag is not one",
			everything: []images.Image{img("aishell:foundation-building")}},
		{name: "everything together",
			tiered: []images.Image{harness(claude1), harness(claude2), foundation(found1), foundation(found2), alias("aishell:foundation", found2),
				extension("aishell:ext-aaaaaaaaaaaa", "/src/alive"), extension("aishell:ext-bbbbbbbbbbbb", "/src/gone")},
			everything:   []images.Image{temp(claude2, 3*time.Hour)},
			used:         map[string]int{claude2: 1},
			projectAlive: liveProject,
			unused:       []string{claude1, found1, "aishell:ext-bbbbbbbbbbbb"},
			tmp:          []string{labels.TempTag(claude2, "0a1b2c3d")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			everything := append(slices.Clone(c.tiered), c.everything...)
			p := planGC(c.tiered, everything, c.used, c.keep, alive{c.projectAlive, c.userBaseAlive, c.keeperAlive}, c.building, now)
			var unused []string
			for _, i := range p.Unused {
				unused = append(unused, i.Name)
			}
			if !slices.Equal(unused, c.unused) {
				t.Errorf("unused = %q, want %q", unused, c.unused)
			}
			if !slices.Equal(p.Temp, c.tmp) {
				t.Errorf("temporary tags = %q, want %q", p.Temp, c.tmp)
			}
		})
	}
}

// TestPlanGCWithoutFullList: when every image could not be listed, temporary tags wait and the
// tiered images are still decided.
func TestPlanGCWithoutFullList(t *testing.T) {
	tiered := []images.Image{{Name: "aishell/harness-codex:1.0.0", Labels: map[string]string{labels.Tier: labels.TierHarness}}}
	p := planGC(tiered, nil, nil, nil, alive{}, false, time.Now())
	if len(p.Temp) != 0 || len(p.Unused) != 1 || p.Unused[0].Name != "aishell/harness-codex:1.0.0" {
		t.Errorf("plan = %+v", p)
	}
}
