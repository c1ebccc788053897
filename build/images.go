// Package build owns everything aishell builds with buildkitd: the embedded foundation
// Dockerfile, harness images and project extensions, and their export into containerd.
package build

// Upstream images the foundation is built from. Real users pull them from their registries;
// the test environment seeds them into containerd so builds need no registry.
const (
	DefaultBaseImage = "docker.io/library/debian:bookworm-slim"
	DefaultNodeImage = "docker.io/library/node:24-bookworm-slim"
)

// Names of the foundation in containerd's image store.
const (
	FoundationImage = "docker.io/library/aishell:foundation"
	BaseAliasImage  = "docker.io/library/aishell:base"
)
