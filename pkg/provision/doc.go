// Package provision installs and configures the Redis processes of an
// inventory on their servers: it renders each server's files (redis.conf per
// node, systemd units, sysctl.d, logrotate) with pure functions that do no
// I/O, and an engine applies them through a Runner (SSH and SFTP in
// production), idempotently, reporting every file as changed or unchanged.
package provision
