// Package manifest defines the ground truth the fabric simulator writes
// beside each capture (NAME.manifest.json) and that the analyzer's tests
// check against: the anomalies a scenario caused, and the tables each OMP
// peer had advertised to each other peer at the end of the capture.
//
// It is plain data (no packets, no crypto), so both the simulator
// (pcaps/synth) and the analyzer's tests can use it.
package manifest

import (
	"encoding/json"
	"os"
	"strings"
	"time"
)

// SchemaVersion is the manifest schema version.
const SchemaVersion = "ompscope.manifest/1"

// Manifest is the ground truth of one simulated capture.
type Manifest struct {
	Schema   string    `json:"schema"`
	Scenario string    `json:"scenario"`
	Seed     int64     `json:"seed"`
	Start    time.Time `json:"start"` // capture time of the first packet
	End      time.Time `json:"end"`   // capture time of the last packet
	// Params are the simulator settings that made the capture (edges,
	// routes, duration, suites, loss rate, ...).
	Params map[string]any `json:"params"`
	// Devices of the fabric.
	Devices []Device `json:"devices"`
	// Sessions: every control connection in the capture.
	Sessions []Session `json:"sessions"`
	// Anomalies the scenario caused on purpose. A baseline has none.
	Anomalies []Anomaly `json:"anomalies"`
	// FinalTables: for each OMP session direction still up at the end,
	// what the sender had advertised to the receiver (not withdrawn).
	FinalTables []Table `json:"final_tables"`
	// Records: how many application records the capture holds, and how
	// many of them the key log can decrypt.
	Records            int `json:"records"`
	DecryptableRecords int `json:"decryptable_records"`
}

// Device is one fabric member.
type Device struct {
	Name     string `json:"name"` // "vsmart1", "edge3"
	Type     string `json:"type"` // "vSmart", "vEdge", "vBond", "vManage"
	SystemIP string `json:"system_ip"`
	SiteID   uint32 `json:"site_id"`
	// Addresses the device's control connections use (underlay).
	Addrs []string `json:"addrs"`
}

// Session is one control connection.
type Session struct {
	Client string `json:"client"` // "ip:port" of the DTLS/TLS client
	Server string `json:"server"`
	// Transport: "dtls", "tls", or "udp" for a connection in the clear
	// (vdaemon straight in UDP payloads: no suite, no key line).
	Transport string `json:"transport"`
	Suite     string `json:"suite"` // IANA cipher suite name
	EMS       bool   `json:"extended_master_secret"`
	// ClientSystemIP / ServerSystemIP name the devices at each end.
	ClientSystemIP string `json:"client_system_ip"`
	ServerSystemIP string `json:"server_system_ip"`
	// Kind: "vbond", "vmanage", "omp" (edge-vSmart or vSmart-vSmart).
	Kind string `json:"kind"`
	// KeyInLog is false when the scenario left this session's key out
	// (true for a "udp" session: there is nothing to decrypt).
	KeyInLog bool `json:"key_in_log"`
	// PSK is true when the session used a PSK suite (key from --psk).
	PSK bool `json:"psk,omitempty"`
}

// Anomaly is one anomaly a scenario caused. Kind is the analyzer's
// detector name; Subject uses the canonical subject forms of docs/json.md:
//
//	route vpn=<vpn> prefix=<prefix> originator=<system-ip>
//	tloc <system-ip>/<color>/<encap>
//	system-ip <ip>
//	site <site-id>
//	peer <system-ip>                (a device: hold expiry, alert, teardown)
//	session <client ip:port> > <server ip:port>
//	vsmarts <system-ip>,<system-ip> vpn=<vpn>
//
// Start and End are the window in which the analyzer should report it
// (End may be zero when it lasts to the end of the capture).
type Anomaly struct {
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Note    string    `json:"note,omitempty"`
}

// Table is what one OMP speaker advertised to another.
type Table struct {
	From     string    `json:"from"` // sender system-ip
	To       string    `json:"to"`   // receiver system-ip
	Routes   []Route   `json:"routes"`
	TLOCs    []TLOC    `json:"tlocs"`
	Services []Service `json:"services"`
	// RouteCount, TLOCCount and ServiceCount are the number of paths of
	// each kind. They are always set; the lists above are left empty when
	// the tables are too large to list (params["tables"] == "counts", an
	// option of the scale scenario).
	RouteCount   int `json:"route_count"`
	TLOCCount    int `json:"tloc_count"`
	ServiceCount int `json:"service_count"`
}

// Route is one advertised route path.
type Route struct {
	VPN        uint32 `json:"vpn"`
	Prefix     string `json:"prefix"`
	PathID     uint32 `json:"path_id"`
	Originator string `json:"originator"`
	TLOC       string `json:"tloc"` // system-ip/color/encap
	Preference uint32 `json:"preference,omitempty"`
	SiteID     uint32 `json:"site_id"`
	Origin     string `json:"origin,omitempty"`
}

// TLOC is one advertised TLOC path.
type TLOC struct {
	TLOC       string `json:"tloc"` // system-ip/color/encap
	PathID     uint32 `json:"path_id"`
	Originator string `json:"originator"`
	Private    string `json:"private,omitempty"` // ip:port
	Public     string `json:"public,omitempty"`  // ip:port
	Preference uint32 `json:"preference,omitempty"`
	Weight     uint32 `json:"weight,omitempty"`
	SiteID     uint32 `json:"site_id"`
}

// Service is one advertised service route.
type Service struct {
	VPN        uint32 `json:"vpn"`
	Service    string `json:"service"`
	PathID     uint32 `json:"path_id"`
	Originator string `json:"originator"`
	TLOC       string `json:"tloc"`
}

// Read loads a manifest file.
func Read(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// TsharkDecodeAs returns tshark's "-d" arguments that make it dissect
// every session of the manifest on its server port as DTLS (UDP) or TLS
// (TCP), once per port: the simulator's ports include NAT and per-core
// ports tshark does not know.
func (m *Manifest) TsharkDecodeAs() []string {
	var args []string
	seen := map[string]bool{}
	for _, s := range m.Sessions {
		i := strings.LastIndexByte(s.Server, ':')
		k := "udp.port==" + s.Server[i+1:] + ",dtls"
		if s.Transport == "tls" {
			k = "tcp.port==" + s.Server[i+1:] + ",tls"
		}
		if !seen[k] {
			seen[k] = true
			args = append(args, "-d", k)
		}
	}
	return args
}

// PSKKey is the hex key of the scenario's PSK session (params.psk_session),
// "" when it has none.
func (m *Manifest) PSKKey() string {
	if ps, ok := m.Params["psk_session"].(map[string]any); ok {
		if k, ok := ps["key"].(string); ok {
			return k
		}
	}
	return ""
}
