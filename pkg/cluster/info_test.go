package cluster

import "testing"

func TestParseInfo(t *testing.T) {
	m := ParseInfo("# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/redis-server\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n")
	if m["redis_version"] != "7.0.15" || m["db0"] != "keys=3,expires=0,avg_ttl=0" || m["executable"] != "/usr/bin/redis-server" || len(m) != 3 {
		t.Errorf("ParseInfo = %v", m)
	}
}

func TestInfoField(t *testing.T) {
	text := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n"
	if got := InfoField(text, "master_link_status"); got != "up" {
		t.Errorf("InfoField = %q, want up", got)
	}
	if got := InfoField(text, "missing"); got != "" {
		t.Errorf("InfoField(missing) = %q", got)
	}
}
