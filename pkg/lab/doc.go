// Package lab boots a small network of real Debian hosts on this machine
// for end-to-end tests: each host is a systemd-nspawn container running
// systemd and sshd, with its own copy-on-write overlay on one cached root
// file system, its own network namespace on a private bridge in
// 198.18.0.0/15 (the range set aside for benchmark networks), its own SSH
// host key, and root logins with one lab client key.
//
// A lab needs root, systemd-nspawn, debootstrap (for the first build of
// the root file system) and iproute2. Start tears down the labs of dead
// owners before it begins; Close tears down everything it made: containers,
// links, the bridge and the overlays. Only the lab's own addresses are
// ever targets.
package lab
