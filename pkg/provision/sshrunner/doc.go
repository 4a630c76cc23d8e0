// Package sshrunner runs commands and transfers files on a remote server
// over SSH and SFTP, verifying the server's host key against known_hosts
// content and elevating with "sudo -n" when the login user is not root.
package sshrunner
