// Package fmspush holds the files embedded from the repository root.
//
// It exists because go:embed cannot reach a parent directory: the canonical
// config.hcl stays at the root, and package config serves it as its default.
// This package must import nothing from this module, so any package may use it.
package fmspush

import _ "embed" // for go:embed

// DefaultConfig is the repository-root config.hcl, the configuration
// `fmspush run` uses when no -config is given. Use config.Default() for a copy.
//
//go:embed config.hcl
var DefaultConfig []byte
