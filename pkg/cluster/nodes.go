package cluster

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Node is one line of CLUSTER NODES as seen by the node that printed it.
type Node struct {
	ID          string   `json:"id"`
	Addr        string   `json:"addr"` // host:port as announced (clients connect here); "" for noaddr
	BusPort     int      `json:"bus_port"`
	Hostname    string   `json:"hostname,omitempty"`
	Flags       []string `json:"flags"`
	MasterID    string   `json:"master_id,omitempty"` // "" when the node is a master
	PingSent    int64    `json:"ping_sent"`
	PongRecv    int64    `json:"pong_recv"`
	ConfigEpoch int64    `json:"config_epoch"`
	LinkState   string   `json:"link_state"`
	Slots       SlotSet  `json:"-"`
	// Migrating maps a slot this node is migrating to the target node id.
	Migrating map[int]string `json:"migrating,omitempty"`
	// Importing maps a slot this node is importing to the source node id.
	Importing map[int]string `json:"importing,omitempty"`
}

// HasFlag reports whether the node carries flag f (e.g. "master", "fail?").
func (n *Node) HasFlag(f string) bool {
	for _, x := range n.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// Myself reports whether this line describes the node that printed it.
func (n *Node) Myself() bool { return n.HasFlag("myself") }

// IsMaster reports whether the node is a master.
func (n *Node) IsMaster() bool { return n.HasFlag("master") }

// IsReplica reports whether the node is a replica ("slave" in CLUSTER NODES).
func (n *Node) IsReplica() bool { return n.HasFlag("slave") }

// Failing reports whether the node is flagged fail or pfail ("fail?").
func (n *Node) Failing() bool { return n.HasFlag("fail") || n.HasFlag("fail?") }

// Open reports whether the node has a migrating or importing slot.
func (n *Node) Open() bool { return len(n.Migrating) > 0 || len(n.Importing) > 0 }

// ParseNodes parses the output of CLUSTER NODES. It never panics; malformed
// lines are reported with their line number.
func ParseNodes(text string) ([]Node, error) {
	var nodes []Node
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := parseNodeLine(line)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES line %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func parseNodeLine(line string) (Node, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return Node{}, fmt.Errorf("want at least 8 fields, got %d", len(f))
	}
	n := Node{ID: f[0], LinkState: f[7]}
	if len(n.ID) != 40 {
		return Node{}, fmt.Errorf("node id %q is not 40 characters", n.ID)
	}
	if err := n.parseAddr(f[1]); err != nil {
		return Node{}, err
	}
	n.Flags = strings.Split(f[2], ",")
	if f[3] != "-" {
		n.MasterID = f[3]
	}
	var err error
	if n.PingSent, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return Node{}, fmt.Errorf("ping-sent %q: %w", f[4], err)
	}
	if n.PongRecv, err = strconv.ParseInt(f[5], 10, 64); err != nil {
		return Node{}, fmt.Errorf("pong-recv %q: %w", f[5], err)
	}
	if n.ConfigEpoch, err = strconv.ParseInt(f[6], 10, 64); err != nil {
		return Node{}, fmt.Errorf("config-epoch %q: %w", f[6], err)
	}
	for _, s := range f[8:] {
		if strings.HasPrefix(s, "[") {
			if err := n.parseOpenSlot(s); err != nil {
				return Node{}, err
			}
			continue
		}
		r, err := ParseRange(s)
		if err != nil {
			return Node{}, err
		}
		n.Slots.AddRange(r)
	}
	return n, nil
}

// parseAddr parses the address field, "ip:port@cport[,hostname[,key=value...]]"
// (Redis 7.0 adds the hostname, 7.2 the key=value auxiliary fields). The IP
// is printed without brackets, so an IPv6 address is split at its last ':'.
// A node without a known address (noaddr, ":0@0") gets Addr "".
func (n *Node) parseAddr(field string) error {
	parts := strings.Split(field, ",")
	if len(parts) > 1 && !strings.Contains(parts[1], "=") {
		n.Hostname = parts[1]
	}
	hostport, bus, hasBus := strings.Cut(parts[0], "@")
	if hasBus {
		p, err := parsePort(bus)
		if err != nil {
			return fmt.Errorf("bus port in %q: %w", field, err)
		}
		n.BusPort = p
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fmt.Errorf("address %q: missing port", field)
	}
	host, port := strings.Trim(hostport[:i], "[]"), hostport[i+1:]
	p, err := parsePort(port)
	if err != nil {
		return fmt.Errorf("address %q: %w", field, err)
	}
	if host != "" && p != 0 {
		n.Addr = net.JoinHostPort(host, port)
	}
	return nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %d out of range", p)
	}
	return p, nil
}

// parseOpenSlot parses "[slot->-id]" (migrating) or "[slot-<-id]" (importing).
func (n *Node) parseOpenSlot(s string) error {
	body, ok := strings.CutSuffix(strings.TrimPrefix(s, "["), "]")
	if !ok {
		return fmt.Errorf("open slot %q: missing ']'", s)
	}
	if a, id, ok := strings.Cut(body, "->-"); ok {
		slot, err := parseSlot(a)
		if err != nil {
			return fmt.Errorf("open slot %q: %w", s, err)
		}
		if n.Migrating == nil {
			n.Migrating = map[int]string{}
		}
		n.Migrating[slot] = id
		return nil
	}
	if a, id, ok := strings.Cut(body, "-<-"); ok {
		slot, err := parseSlot(a)
		if err != nil {
			return fmt.Errorf("open slot %q: %w", s, err)
		}
		if n.Importing == nil {
			n.Importing = map[int]string{}
		}
		n.Importing[slot] = id
		return nil
	}
	return fmt.Errorf("open slot %q: want [slot->-id] or [slot-<-id]", s)
}

func parseSlot(s string) (int, error) {
	v, err := parseDigits(s)
	if err != nil {
		return 0, err
	}
	if v < 0 || v >= NumSlots {
		return 0, fmt.Errorf("slot %d out of range", v)
	}
	return v, nil
}

// Myself returns the line describing the node that printed nodes.
func Myself(nodes []Node) (Node, bool) {
	for _, n := range nodes {
		if n.Myself() {
			return n, true
		}
	}
	return Node{}, false
}

// Signature returns the slot-map signature of one node's view, as
// redis-cli's clusterManagerGetConfigSignature builds it: for every node that
// owns slots, "id:ranges", sorted and joined by "|". Open-slot markers are
// ignored. A view in which no node owns a slot has the empty signature.
func Signature(nodes []Node) string {
	var parts []string
	for i := range nodes {
		n := &nodes[i]
		if n.Slots.Len() == 0 {
			continue
		}
		parts = append(parts, n.ID+":"+strings.ReplaceAll(n.Slots.String(), " ", ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}
