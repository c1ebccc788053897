package config

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// npmCacheFile, beside the config file, holds the name of the person's npm download cache: the
// containerd snapshot that their harness installs share.
const npmCacheFile = "npm-cache-id"

// NPMCacheID is the name of the snapshot where the person's harness installs keep npm's
// downloads, made up once at random and kept beside the config file at cfgPath (owned by the
// person). It is random so that no two people's configs ever name the same cache in a shared
// namespace, and nothing that is not the person's aishell knows its name. It is empty when the
// file can neither be read nor written: installs then go without the cache.
func NPMCacheID(cfgPath string, p Person) string {
	path := filepath.Join(filepath.Dir(cfgPath), npmCacheFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); validNPMCacheID(id) {
			return id
		}
	}
	raw := make([]byte, 16)
	rand.Read(raw)
	id := "aishell-npm-" + hex.EncodeToString(raw)
	if p.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return ""
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".npm-cache-id-*")
	if err != nil {
		return ""
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(id + "\n")
	if cerr := tmp.Close(); err != nil || cerr != nil || p.Own(tmp.Name()) != nil {
		return ""
	}
	// A concurrent aishell may have written its own: the first one there is the one kept.
	if err := os.Link(tmp.Name(), path); err != nil {
		if b, err := os.ReadFile(path); err == nil && validNPMCacheID(strings.TrimSpace(string(b))) {
			return strings.TrimSpace(string(b))
		}
		if os.Rename(tmp.Name(), path) != nil {
			return ""
		}
	}
	return id
}

func validNPMCacheID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, "aishell-npm-")
	if !ok || len(hexPart) != 32 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}
