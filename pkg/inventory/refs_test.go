package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNodeRefs(t *testing.T) {
	inv, err := Load(filepath.Join(inventories, "prod-3x2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := inv.Nodes()
	if len(nodes) != 6 || len(inv.Masters()) != 3 || len(inv.Replicas()) != 3 {
		t.Fatalf("nodes %d masters %d replicas %d", len(nodes), len(inv.Masters()), len(inv.Replicas()))
	}
	r := nodes[3] // server2's replica
	if r.Name() != "server2:7001" || r.Addr() != "172.31.11.176:7001" || r.BusPort() != 17001 ||
		r.BusAddr() != "172.31.11.176:17001" || r.ReplicaOf != "server1:7000" || r.Field() != "servers[1].nodes[1]" ||
		r.Line != 20 || !strings.HasSuffix(r.File, "prod-3x2.yaml") {
		t.Errorf("ref = %+v", r)
	}
	if got, ok := inv.NodeByAddr("172.31.3.184:7000"); !ok || got.Name() != "server3:7000" || got.Role != RoleMaster {
		t.Errorf("NodeByAddr = %+v %v", got, ok)
	}
	if _, ok := inv.NodeByAddr("172.31.3.184:7009"); ok {
		t.Error("NodeByAddr found a node that does not exist")
	}
	if s, ok := inv.ServerOf("172.31.6.35:7001"); !ok || s != "server1" {
		t.Errorf("ServerOf = %q %v", s, ok)
	}
	if m, ok := inv.MasterOf(r); !ok || m.Addr() != "172.31.6.35:7000" {
		t.Errorf("MasterOf = %+v %v", m, ok)
	}
	if s, ok := inv.Server("server3"); !ok || s.Address != "172.31.3.184" || s.SSH.User != "ubuntu" || s.EffectiveWeight() != 1 {
		t.Errorf("Server = %+v %v", s, ok)
	}
	if srv, port, ok := SplitNodeName("server1:7000"); !ok || srv != "server1" || port != 7000 {
		t.Errorf("SplitNodeName = %q %d %v", srv, port, ok)
	}
	if _, _, ok := SplitNodeName("server1"); ok {
		t.Error("SplitNodeName accepted a name without a port")
	}
}

func TestPasswordAndClone(t *testing.T) {
	inv, err := Load(filepath.Join(inventories, "prod-3x2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDIS_ACCESSKEY": "a-long-enough-password"}
	if pw, err := inv.Password(func(k string) string { return env[k] }); err != nil || pw != env["REDIS_ACCESSKEY"] {
		t.Errorf("Password = %q, %v", pw, err)
	}
	_, err = inv.Password(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "REDIS_ACCESSKEY") {
		t.Errorf("missing password: %v", err)
	}
	c := inv.Clone()
	c.Servers[0].Nodes[0].Port = 1
	c.Cluster.RedisConfig["maxmemory"] = "1gb"
	*c.Provision.KernelTuning = false
	if inv.Servers[0].Nodes[0].Port != 7000 || inv.Cluster.RedisConfig["maxmemory"] != "4gb" || !*inv.Provision.KernelTuning {
		t.Error("Clone shares memory with the original")
	}
}

func TestParseJSONErrors(t *testing.T) {
	text := "{\n\t\"version\": 1,\n\t\"servers\": [\n\t\t{\"name\": \"s\", \"adress\": \"x\", \"nodes\": []}\n\t]\n}\n"
	_, err := Parse("inv.json", []byte(text))
	ps := problems(t, err)
	if p := ps[0]; p.Line != 4 || p.Field != "servers[0].adress" || !strings.Contains(p.Message, `did you mean "address"?`) {
		t.Errorf("problem = %+v", p)
	}
	_, err = Parse("inv.json", []byte("{\"version\": 1,\n \"servers\": [}\n"))
	if ps := problems(t, err); ps[0].Line != 2 || !strings.Contains(ps[0].Message, "malformed YAML") {
		t.Errorf("problem = %+v", ps[0])
	}
}
