// Package backup models the manifest a backup run writes — one entry per
// RDB file, with the node it came from, the slots it holds and its SHA-256
// — and checks a manifest for age, slot coverage and bad entries. It does
// no network I/O; Load and Verify read local files only.
package backup
