// Package inventory reads, completes and checks the cluster inventory: the
// YAML or JSON file that lists a Redis Cluster's servers, the redis-server
// processes (nodes) on each, the gates that guard changes and every stage's
// settings. It does no network I/O; only Load and FromEnv read a file.
//
// Parse is strict: an unknown key, a value of the wrong type, a duplicate key
// or malformed YAML is a Problem naming the file, line and key path (with a
// "did you mean" for misspelt keys), and every problem is reported at once in
// an *Error. Parse fills defaults (ApplyDefaults) but leaves replica
// placement to Resolve, which runs PlaceReplicas against the assignments the
// live cluster already has.
//
// Check turns the inventory into rule Findings with stable dotted ids
// ("inventory.anti_affinity", "inventory.new_servers_in_pairs", ...) for the
// validate stage; CheckSecrets checks the password named by the inventory
// without ever putting its value in a message.
//
// Every Server, Node, Threshold and settings block records the line it was
// read from, so that findings can be annotated on the inventory line that
// caused them.
package inventory
