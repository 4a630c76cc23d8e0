package inventory

// tls checks the cluster.tls block: the three variables are required (a
// Redis server needs its certificate, key and CA; tls-auth-clients is on by
// default, so slotshift presents the same certificate), each must look like
// a variable name (it may hold the secret itself by mistake: never echoed),
// and min_validity may not be negative. provision's redis_exporter units
// speak plain TCP only, so they are refused on a TLS cluster.
func (d *decoder) tls(inv *Inventory) {
	t := inv.Cluster.TLS
	if t == nil {
		return
	}
	if inv.Provision.RedisExporter {
		d.add(inv.Provision.Line, "provision.redis_exporter", "not supported with cluster.tls: the exporter units provision renders connect without TLS; run the exporters yourself with their -tls-* flags")
	}
	for _, f := range []struct{ field, val, what string }{
		{"cluster.tls.ca_env", t.CAEnv, "the CA certificate"},
		{"cluster.tls.cert_env", t.CertEnv, "the certificate"},
		{"cluster.tls.key_env", t.KeyEnv, "the private key"},
	} {
		switch {
		case f.val == "":
			d.add(t.Line, f.field, "required: name the environment variable that holds %s as PEM", f.what)
		case !envNameRE.MatchString(f.val):
			d.add(t.Line, f.field, "does not look like an environment variable name (letters, digits, underscore); it must name the variable, not hold the PEM (value not shown)")
		}
	}
	if t.MinValidity.Duration < 0 {
		d.add(t.Line, "cluster.tls.min_validity", "%s: must not be negative", t.MinValidity)
	}
}

// TLSEnabled reports whether the cluster speaks TLS.
func (inv *Inventory) TLSEnabled() bool { return inv != nil && inv.Cluster.TLS != nil }
