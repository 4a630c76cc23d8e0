package inventory

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// NodeRef is one node flattened with its server, as stages use it.
type NodeRef struct {
	Server  string // server name (the failure domain)
	Address string // the server's address
	Port    int
	Role    Role
	// ReplicaOf is the master as "server:port"; empty for a master and for
	// a replica not yet placed (see Resolve).
	ReplicaOf string
	Line      int    // line of the node in File
	File      string // the inventory's Source
	// ServerIndex and NodeIndex locate the node in Inventory.Servers.
	ServerIndex, NodeIndex int
}

// Name is the node's inventory name, "server:port".
func (r NodeRef) Name() string { return NodeName(r.Server, r.Port) }

// Addr is "address:port", where clients reach the node.
func (r NodeRef) Addr() string { return net.JoinHostPort(r.Address, strconv.Itoa(r.Port)) }

// BusPort is the cluster bus port, Port+10000.
func (r NodeRef) BusPort() int { return r.Port + BusPortOffset }

// BusAddr is "address:busport".
func (r NodeRef) BusAddr() string { return net.JoinHostPort(r.Address, strconv.Itoa(r.BusPort())) }

// Field is the node's key path, e.g. "servers[1].nodes[0]".
func (r NodeRef) Field() string {
	return fmt.Sprintf("servers[%d].nodes[%d]", r.ServerIndex, r.NodeIndex)
}

// NodeName formats a node name "server:port".
func NodeName(server string, port int) string { return server + ":" + strconv.Itoa(port) }

// SplitNodeName splits "server:port"; ok is false when it is not of that form.
func SplitNodeName(name string) (server string, port int, ok bool) {
	i := strings.LastIndexByte(name, ':')
	if i <= 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return "", 0, false
	}
	return name[:i], p, true
}

// Nodes lists every node in inventory order.
func (inv *Inventory) Nodes() []NodeRef {
	var out []NodeRef
	for i, s := range inv.Servers {
		for j := range s.Nodes {
			out = append(out, inv.ref(i, j))
		}
	}
	return out
}

func (inv *Inventory) ref(i, j int) NodeRef {
	s, n := &inv.Servers[i], &inv.Servers[i].Nodes[j]
	return NodeRef{
		Server: s.Name, Address: s.Address, Port: n.Port, Role: n.Role,
		ReplicaOf: n.ReplicaOf, Line: n.Line, File: inv.Source,
		ServerIndex: i, NodeIndex: j,
	}
}

// Masters lists the nodes declared master, in inventory order.
func (inv *Inventory) Masters() []NodeRef { return inv.byRole(RoleMaster) }

// Replicas lists the nodes declared replica, in inventory order.
func (inv *Inventory) Replicas() []NodeRef { return inv.byRole(RoleReplica) }

func (inv *Inventory) byRole(role Role) []NodeRef {
	var out []NodeRef
	for _, r := range inv.Nodes() {
		if r.Role == role {
			out = append(out, r)
		}
	}
	return out
}

// NodeByAddr finds the node at "address:port".
func (inv *Inventory) NodeByAddr(addr string) (NodeRef, bool) {
	return inv.find(func(s *Server, n *Node) bool {
		return net.JoinHostPort(s.Address, strconv.Itoa(n.Port)) == addr
	})
}

// NodeByName finds the node named "server:port".
func (inv *Inventory) NodeByName(name string) (NodeRef, bool) {
	server, port, ok := SplitNodeName(name)
	if !ok {
		return NodeRef{}, false
	}
	return inv.find(func(s *Server, n *Node) bool { return s.Name == server && n.Port == port })
}

// find returns the first node that match accepts, without building the
// whole node list.
func (inv *Inventory) find(match func(*Server, *Node) bool) (NodeRef, bool) {
	for i := range inv.Servers {
		s := &inv.Servers[i]
		for j := range s.Nodes {
			if match(s, &s.Nodes[j]) {
				return inv.ref(i, j), true
			}
		}
	}
	return NodeRef{}, false
}

// ServerOf names the server of the node at "address:port".
func (inv *Inventory) ServerOf(addr string) (string, bool) {
	r, ok := inv.NodeByAddr(addr)
	return r.Server, ok
}

// Server finds a server by name.
func (inv *Inventory) Server(name string) (*Server, bool) {
	for i := range inv.Servers {
		if inv.Servers[i].Name == name {
			return &inv.Servers[i], true
		}
	}
	return nil, false
}

// MasterOf returns the master a replica follows, once placed.
func (inv *Inventory) MasterOf(r NodeRef) (NodeRef, bool) {
	if r.ReplicaOf == "" {
		return NodeRef{}, false
	}
	m, ok := inv.NodeByName(r.ReplicaOf)
	return m, ok && m.Role == RoleMaster
}

// EffectiveWeight is the server's slot weight: Weight, or 1 when unset.
func (s Server) EffectiveWeight() float64 {
	if s.Weight == nil {
		return 1
	}
	return *s.Weight
}

// PasswordEnv names the environment variable that holds the cluster
// password: cluster.password_env, or DefaultPasswordEnv when the inventory
// is nil or leaves it empty.
func PasswordEnv(inv *Inventory) string {
	if inv == nil || inv.Cluster.PasswordEnv == "" {
		return DefaultPasswordEnv
	}
	return inv.Cluster.PasswordEnv
}

// Password reads the cluster password from the variable named by
// cluster.password_env. The error names the variable, never a value.
func (inv *Inventory) Password(getenv func(string) string) (string, error) {
	name := PasswordEnv(inv)
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("cluster password: environment variable %s (cluster.password_env) is not set", name)
	}
	return v, nil
}

// Username reads the ACL user name from cluster.user_env; "" when unset
// (the default user).
func (inv *Inventory) Username(getenv func(string) string) string {
	if inv.Cluster.UserEnv == "" {
		return ""
	}
	return getenv(inv.Cluster.UserEnv)
}

// Clone returns a deep copy, so callers can resolve or edit it freely.
func (inv *Inventory) Clone() *Inventory {
	c := *inv
	if inv.Cluster.RedisConfig != nil {
		c.Cluster.RedisConfig = make(map[string]string, len(inv.Cluster.RedisConfig))
		for k, v := range inv.Cluster.RedisConfig {
			c.Cluster.RedisConfig[k] = v
		}
	}
	if inv.Cluster.TLS != nil {
		t := *inv.Cluster.TLS
		c.Cluster.TLS = &t
	}
	if inv.Provision.KernelTuning != nil {
		t := *inv.Provision.KernelTuning
		c.Provision.KernelTuning = &t
	}
	if inv.Servers == nil {
		return &c
	}
	c.Servers = make([]Server, len(inv.Servers))
	for i, s := range inv.Servers {
		if s.Weight != nil {
			w := *s.Weight
			s.Weight = &w
		}
		s.Nodes = append([]Node(nil), s.Nodes...)
		c.Servers[i] = s
	}
	return &c
}
