package stage

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDEndpoints is the check id of verify's endpoints file.
const IDEndpoints = "verify.endpoints"

// EndpointsName is the endpoints file's name in the report directory.
const EndpointsName = "endpoints.json"

// EndpointsFormatVersion is the endpoints file's format: minor bumps add
// fields, readers ignore unknown fields, a major bump breaks.
const EndpointsFormatVersion = "1.0"

// Endpoints is what the applications' clients need to reach the cluster, as
// verify observed it: verify writes it as endpoints.json so that a later
// pipeline step can update the clients' node lists.
type Endpoints struct {
	FormatVersion string    `json:"format_version"`
	Cluster       string    `json:"cluster"`
	TakenAt       time.Time `json:"taken_at"`
	// Fingerprint is the slot map's fingerprint, as in the reports.
	Fingerprint string     `json:"fingerprint"`
	Masters     []Endpoint `json:"masters"`
	Replicas    []Endpoint `json:"replicas"`
}

// Endpoint is one node clients may connect to.
type Endpoint struct {
	Address string `json:"address"` // host:port as the cluster announces it
	// Server is the inventory's server name; "" when the inventory lacks
	// the node.
	Server string `json:"server,omitempty"`
	ID     string `json:"id"`
	// Slots are a master's own slots, or a replica's master's.
	Slots []cluster.Range `json:"slots"`
	// Master is a replica's master's address; "" for a master.
	Master string `json:"master,omitempty"`
}

// endpointsOf lists the cluster's members that clients can use: reachable
// and not flagged failing, masters (with or without slots) and replicas,
// each sorted by address.
func endpointsOf(env Env, l check.Live, taken time.Time) Endpoints {
	e := Endpoints{FormatVersion: EndpointsFormatVersion, Cluster: env.Inventory.Cluster.Name, TakenAt: taken.UTC(),
		Fingerprint: l.Fingerprint(), Masters: []Endpoint{}, Replicas: []Endpoint{}}
	usable := func(n cluster.Node) bool {
		o, ok := l.Snap.Nodes[n.Addr]
		return ok && o.OK() && !n.Failing()
	}
	for _, n := range l.Masters() {
		if usable(n) {
			e.Masters = append(e.Masters, Endpoint{Address: n.Addr, Server: serverName(env, n.Addr), ID: n.ID, Slots: ranges(n.Slots)})
		}
	}
	for _, n := range l.Replicas() {
		if !usable(n) {
			continue
		}
		ep := Endpoint{Address: n.Addr, Server: serverName(env, n.Addr), ID: n.ID, Slots: []cluster.Range{}}
		if m, ok := l.ByID(n.MasterID); ok {
			ep.Master, ep.Slots = m.Addr, ranges(m.Slots)
		}
		e.Replicas = append(e.Replicas, ep)
	}
	sort.Slice(e.Masters, func(i, j int) bool { return e.Masters[i].Address < e.Masters[j].Address })
	sort.Slice(e.Replicas, func(i, j int) bool { return e.Replicas[i].Address < e.Replicas[j].Address })
	return e
}

// serverName is the inventory's server name for addr, or "".
func serverName(env Env, addr string) string {
	s, _ := env.Inventory.ServerOf(addr)
	return s
}

// ranges returns s's ranges, never nil (so that JSON says [], not null).
func ranges(s cluster.SlotSet) []cluster.Range {
	if r := s.Ranges(); r != nil {
		return r
	}
	return []cluster.Range{}
}

// writeEndpoints writes e to path atomically and publishes it in res: the
// outputs endpoints-file, masters and replicas (comma-separated addresses)
// and a verify.endpoints check.
func writeEndpoints(res *Result, path string, e Endpoints) {
	if err := atomicfile.WriteJSON(path, e, 0o644); err != nil {
		res.Add(check.New(IDEndpoints, report.Error, "", "write the client endpoints: %v", err))
		return
	}
	addrs := func(eps []Endpoint) string {
		out := make([]string, len(eps))
		for i, ep := range eps {
			out[i] = ep.Address
		}
		return strings.Join(out, ",")
	}
	if res.Outputs == nil {
		res.Outputs = map[string]string{}
	}
	res.Outputs["endpoints-file"] = path
	res.Outputs["masters"] = addrs(e.Masters)
	res.Outputs["replicas"] = addrs(e.Replicas)
	c := check.New(IDEndpoints, report.Pass, "", "wrote %s: %d masters, %d replicas", path, len(e.Masters), len(e.Replicas))
	c.Observed, c.Unit = len(e.Masters)+len(e.Replicas), "nodes"
	res.Add(c)
	res.Summary = append(res.Summary, fmt.Sprintf("client endpoints in %s: masters %s", path, addrs(e.Masters)))
}
