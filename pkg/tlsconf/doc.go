// Package tlsconf turns TLS material given as PEM text (the CA, the client
// certificate and its key, as CI secrets deliver them) into the
// *tls.Config every Redis client is built with, and lists the
// certificates' validity for the validate stage. It does no network I/O.
package tlsconf
