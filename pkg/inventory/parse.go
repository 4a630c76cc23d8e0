package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Environment variables FromEnv reads.
const (
	EnvInventoryFile = "SLOTSHIFT_INVENTORY_FILE" // path of the inventory
	EnvInventory     = "SLOTSHIFT_INVENTORY"      // the inventory itself, inline
)

// MaxNodes bounds the nodes in one inventory: Redis Cluster is designed
// for up to 1000 nodes, and the rules and placement assume that scale.
const MaxNodes = 1000

// SupportedVersion is the only inventory format version this build reads.
const SupportedVersion = 1

// Limits that keep a hostile or broken file (alias bombs, deep nesting)
// from costing more than a real inventory ever would.
const (
	maxValues = 100_000
	maxDepth  = 64
)

// Load reads and parses the inventory file at path.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	return Parse(path, data)
}

// FromEnv finds the inventory: path (the --inventory flag) when set, else
// the file named by SLOTSHIFT_INVENTORY_FILE, else the inline text of
// SLOTSHIFT_INVENTORY (whose Source is then "SLOTSHIFT_INVENTORY"). It
// returns ErrNoInventory when none is given.
func FromEnv(getenv func(string) string, path string) (*Inventory, error) {
	if path != "" {
		return Load(path)
	}
	if p := getenv(EnvInventoryFile); p != "" {
		return Load(p)
	}
	if text := getenv(EnvInventory); strings.TrimSpace(text) != "" {
		return Parse(EnvInventory, []byte(text))
	}
	return nil, ErrNoInventory
}

// Parse reads an inventory written in YAML or JSON (JSON is read as YAML, so
// both keep line numbers). name is used in messages. It is strict and
// reports every problem it finds as an *Error; on success the inventory has
// its defaults applied (ApplyDefaults) but replicas are not yet placed (see
// Resolve).
func Parse(name string, data []byte) (*Inventory, error) {
	d := &decoder{file: name, data: data, budget: maxValues}
	inv := &Inventory{Source: name}
	if root := d.document(data); root != nil {
		d.value(root, reflect.ValueOf(inv).Elem(), "", root.Line, 0)
		if len(d.problems) == 0 {
			d.schema(inv, root)
		}
	}
	if len(d.problems) > 0 {
		return nil, &Error{Problems: d.problems}
	}
	ApplyDefaults(inv)
	return inv, nil
}

type decoder struct {
	file     string
	data     []byte
	problems []Problem
	budget   int
}

func (d *decoder) add(line int, field, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax turns a yaml.v3 error into problems, keeping its line number.
func (d *decoder) syntax(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			d.syntaxLine(msg)
		}
		return
	}
	d.syntaxLine(err.Error())
}

// parserErrors are the yaml.v3 parser's (not scanner's) messages: it
// reports their 0-based line as if 1-based, and leaves line 0 out.
var parserErrors = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var unknownAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

func (d *decoder) syntaxLine(msg string) {
	line, text := 0, strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		text = m[2]
	}
	if slices.Contains(parserErrors, text) {
		line++
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil && d.data != nil {
		// The composer names the anchor but not where it is used.
		if i := bytes.Index(d.data, []byte("*"+m[1])); i >= 0 {
			line = 1 + bytes.Count(d.data[:i], []byte("\n"))
		}
	}
	d.add(line, "", "malformed YAML: %s", text)
}

// document parses data into its single YAML document's root node.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a bad file must
		// be an error, never a crash.
		if r := recover(); r != nil {
			d.add(0, "", "malformed YAML: %v", r)
			root = nil
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		d.add(0, "", "empty inventory")
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(0, "", "empty inventory")
		} else {
			d.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.add(extra.Line, "", "more than one YAML document; an inventory is a single document")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntax(err)
		return nil
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			d.add(doc.Line, "", "empty inventory")
			return nil
		}
		root = doc.Content[0]
	} else {
		root = &doc
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		d.add(root.Line, "", "empty inventory")
		return nil
	}
	return root
}

var durationType = reflect.TypeFor[Duration]()

// sensitive key paths whose values are never echoed: someone may have
// written the secret itself where its variable's name belongs.
var sensitive = map[string]bool{
	"cluster.password_env": true, "cluster.user_env": true,
	"cluster.tls.ca_env": true, "cluster.tls.cert_env": true, "cluster.tls.key_env": true,
}

// value decodes n into v. path is the key path for messages; line is the
// line recorded in a struct's Line field (the key's line, which is where a
// person looks for a block).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line, depth int) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil || depth > maxDepth {
			d.add(n.Line, path, "alias %q cannot be resolved", n.Value)
			return
		}
		n = n.Alias
		depth++
	}
	if depth > maxDepth {
		d.add(n.Line, path, "nested too deeply")
		return
	}
	d.budget--
	if d.budget == 0 {
		d.add(n.Line, path, "too many values (more than %d, aliases expanded)", maxValues)
	}
	if d.budget <= 0 {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent: keep the zero value, defaults fill it later
	}
	t := v.Type()
	if t == durationType {
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" || (n.ShortTag() != "!!str" && n.Value != "0") {
			d.add(n.Line, path, "want a duration like \"10m\" or \"0s\", got %s", d.describe(n, path))
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.add(n.Line, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(Duration{dur}))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, v, path, line, depth)
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		before := len(d.problems)
		d.value(n, elem.Elem(), path, line, depth)
		if len(d.problems) == before {
			v.Set(elem)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(n.Line, path, "want a list, got %s", d.describe(n, path))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), item.Line, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		d.stringMap(n, v, path, depth)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.add(n.Line, path, "want a string, got %s", d.describe(n, path))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			msg := "want an integer, got " + d.describe(n, path)
			if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
				if _, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64); err == nil {
					msg += " (remove the quotes)"
				}
			}
			d.add(n.Line, path, "%s", msg)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.add(n.Line, path, "want a number, got %s", d.describe(n, path))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.add(n.Line, path, "want true or false, got %s", d.describe(n, path))
			return
		}
		v.SetBool(b)
	default:
		// Only reachable if types.go gains a field kind this decoder
		// does not know; fail loudly rather than drop the value.
		d.add(n.Line, path, "cannot decode into %s", t)
	}
}

// fields maps a struct's JSON key names to field indexes, in declaration
// order (for the "known keys" hint).
func fields(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		idx[name] = i
		names = append(names, name)
	}
	return idx, names
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, line, depth int) {
	if n.Kind != yaml.MappingNode {
		what := "a mapping"
		if path == "" {
			what = "a mapping at the top level (version, cluster, servers, ...)"
		}
		d.add(n.Line, path, "want %s, got %s", what, d.describe(n, path))
		return
	}
	if f := v.FieldByName("Line"); f.IsValid() && f.Kind() == reflect.Int && f.CanSet() {
		f.SetInt(int64(line))
	}
	idx, names := fields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "a key must be a plain string, got %s", d.describe(k, path))
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, kp, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := idx[k.Value]
		if !ok {
			if s := suggest(k.Value, names); s != "" {
				d.add(k.Line, kp, "unknown key %q; did you mean %q?", k.Value, s)
			} else {
				d.add(k.Line, kp, "unknown key %q; known keys: %s", k.Value, strings.Join(names, ", "))
			}
			continue
		}
		d.value(val, v.Field(fi), kp, k.Line, depth+1)
	}
}

func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "want a mapping, got %s", d.describe(n, path))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		for val.Kind == yaml.AliasNode && val.Alias != nil && depth < maxDepth {
			val = val.Alias
			depth++
		}
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "a key must be a plain string, got %s", d.describe(k, path))
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, kp, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		// Redis directives take numbers, sizes and yes/no alike; any
		// scalar is kept as written.
		if val.Kind != yaml.ScalarNode {
			d.add(val.Line, kp, "want a single value, got %s", d.describe(val, kp))
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
	}
	v.Set(m)
}

// describe names what a node holds, for "want X, got Y" messages.
func (d *decoder) describe(n *yaml.Node, path string) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	kind := map[string]string{"!!str": "string", "!!int": "integer", "!!float": "number", "!!bool": "boolean", "!!null": "null", "!!timestamp": "timestamp"}[n.ShortTag()]
	if kind == "" {
		kind = "value tagged " + n.ShortTag()
	}
	if sensitive[path] {
		article := "a "
		if strings.ContainsRune("aeiou", rune(kind[0])) {
			article = "an "
		}
		return article + kind + " (value not shown)"
	}
	val := n.Value
	if len(val) > 40 {
		val = val[:40] + "..."
	}
	return fmt.Sprintf("%s %q", kind, val)
}

// schema reports what the decoder cannot see: required fields, enums and
// the format version. Rules about the cluster's shape live in Check.
func (d *decoder) schema(inv *Inventory, root *yaml.Node) {
	switch inv.Version {
	case SupportedVersion:
	case 0:
		d.add(root.Line, "version", "required; set \"version: %d\"", SupportedVersion)
	default:
		d.add(keyLine(root, "version"), "version", "unsupported version %d; this build reads version %d", inv.Version, SupportedVersion)
	}
	if len(inv.Servers) == 0 {
		d.add(keyLineOr(root, "servers"), "servers", "at least one server is required")
	}
	nodes := 0
	for _, s := range inv.Servers {
		nodes += len(s.Nodes)
	}
	if nodes > MaxNodes {
		d.add(keyLineOr(root, "servers"), "servers", "%d nodes; a Redis Cluster is meant for at most %d", nodes, MaxNodes)
		return
	}
	for i, s := range inv.Servers {
		p := fmt.Sprintf("servers[%d]", i)
		if s.Name == "" {
			d.add(s.Line, p+".name", "required")
		} else if strings.ContainsAny(s.Name, ": \t") {
			d.add(s.Line, p+".name", "%q: a server name may not contain ':' or spaces (nodes are named server:port)", s.Name)
		}
		if s.Address == "" {
			d.add(s.Line, p+".address", "required (the address Redis and SSH reach the server at)")
		}
		if s.LinkMbps < 0 {
			d.add(s.Line, p+".link_mbps", "%g: must be positive (Mbit/s), or left out", s.LinkMbps)
		}
		if s.Weight != nil && *s.Weight < 0 {
			d.add(s.Line, p+".weight", "%g: must be 0 (drain) or more", *s.Weight)
		}
		if len(s.Nodes) == 0 {
			d.add(s.Line, p+".nodes", "at least one node is required")
		}
		for j, n := range s.Nodes {
			np := fmt.Sprintf("%s.nodes[%d]", p, j)
			switch n.Role {
			case RoleMaster, RoleReplica:
			case "":
				d.add(n.Line, np+".role", "required: %q or %q", RoleMaster, RoleReplica)
			default:
				d.add(n.Line, np+".role", "%q: want %q or %q", n.Role, RoleMaster, RoleReplica)
			}
		}
	}
	d.window(inv.Gates.Window)
	d.tls(inv)
	if inv.Backup.MaxAge.Duration < 0 {
		d.add(inv.Backup.Line, "backup.max_age", "%s: must not be negative", inv.Backup.MaxAge)
	}
	if inv.Failover.MaxWriteOutage.Duration < 0 {
		d.add(inv.Failover.Line, "failover.max_write_outage", "%s: must not be negative", inv.Failover.MaxWriteOutage)
	}
	enum := func(field, val string, line int, allowed ...string) {
		if val != "" && !slices.Contains(allowed, val) {
			d.add(line, field, "%q: want one of %s", val, strings.Join(allowed, ", "))
		}
	}
	enum("provision.service", inv.Provision.Service, inv.Provision.Line, "auto", "systemd", "daemon")
	enum("provision.install", inv.Provision.Install, inv.Provision.Line, "apt", "skip")
}

// keyLine is the line of a top-level key, or 0.
func keyLine(root *yaml.Node, key string) int {
	if root.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i].Line
		}
	}
	return 0
}

func keyLineOr(root *yaml.Node, key string) int {
	if l := keyLine(root, key); l > 0 {
		return l
	}
	return root.Line
}
