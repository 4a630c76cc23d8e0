package monitoring

import (
	"encoding/json"
	"net"
	"strconv"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// TargetGroup is one entry of a Prometheus file_sd file.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// TargetGroups returns one group per node, in inventory order: the
// address of the node's redis_exporter (the server's address and the
// node's exporter port) with the node's labels.
func TargetGroups(inv *inventory.Inventory) []TargetGroup {
	ports := inv.ExporterPorts()
	nodes := inv.Nodes()
	out := make([]TargetGroup, len(nodes))
	for i, r := range nodes {
		out[i] = TargetGroup{
			Targets: []string{net.JoinHostPort(r.Address, strconv.Itoa(ports[i]))},
			Labels: map[string]string{
				LabelCluster: inv.Cluster.Name,
				LabelServer:  r.Server,
				LabelNode:    r.Addr(),
				LabelRole:    string(r.Role),
			},
		}
	}
	return out
}

// Targets renders the file_sd JSON file (map keys sorted, so stable).
func Targets(inv *inventory.Inventory) ([]byte, error) {
	b, err := json.MarshalIndent(TargetGroups(inv), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
