package detector

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
	"time"
)

// MarshalJSON writes an alert with the fields log pipelines and SIEMs look
// for first: @timestamp (the record's time, as Elastic, Fluent Bit and
// Vector expect), a human message, and a record_id unique to this record
// (alert_id names the whole episode). All three are derived, so replaying a
// capture twice gives byte-identical output.
func (a Alert) MarshalJSON() ([]byte, error) {
	type plain Alert // without this method
	return json.Marshal(struct {
		AtTimestamp time.Time `json:"@timestamp"`
		Message     string    `json:"message"`
		RecordID    string    `json:"record_id"`
		plain
	}{a.Timestamp, a.Message(), a.RecordID(), plain(a)})
}

// RecordID identifies one alert record: its episode (or, for the seed
// rule, its source and label), status, time and counts. A record sent
// twice (a replayed stream, an at-least-once shipper) keeps its id, so a
// SIEM can drop the duplicate.
func (a *Alert) RecordID() string {
	h := fnv.New64a()
	src := a.Source.As16()
	h.Write(src[:])
	fmt.Fprintf(h, "%s|%s|%s|%s|%s", a.AlertID, a.Label, a.Status, a.Rules, a.Input)
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], uint64(a.Timestamp.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], a.TotalConns)
	binary.BigEndian.PutUint64(b[16:], uint64(a.UniqueDestPorts))
	binary.BigEndian.PutUint64(b[24:], uint64(a.UniqueDestHosts))
	h.Write(b[:])
	return fmt.Sprintf("%016x", h.Sum64())
}

// Message says what happened in one line, for a person reading a SIEM.
func (a *Alert) Message() string {
	var b strings.Builder
	_, name := LabelParts(a.Label)
	switch {
	case a.HTTP != nil:
		fmt.Fprintf(&b, "%s sent %s", a.Source, plural(int(min(a.HTTP.Requests, 1<<31)), "HTTP request"))
		if a.DestHost != nil && len(a.DestPorts) == 1 {
			fmt.Fprintf(&b, " to %s", netip.AddrPortFrom(*a.DestHost, a.DestPorts[0]))
		} else {
			fmt.Fprintf(&b, " to %s", plural(a.UniqueDestHosts, "host"))
		}
		fmt.Fprintf(&b, " (%s", plural(a.HTTP.DistinctPaths, "distinct path"))
		if a.HTTP.InjectionRequests > 0 {
			fmt.Fprintf(&b, ", %d with injection payloads", a.HTTP.InjectionRequests)
		}
		if a.HTTP.FailedPaths > 0 {
			fmt.Fprintf(&b, ", %d failed", a.HTTP.FailedPaths)
		}
		b.WriteString(")")
	case name == "SYNFlood" && a.DestHost != nil:
		fmt.Fprintf(&b, "%s flooded %s with %d SYNs", a.Source, a.DestHost, a.TotalConns)
		if len(a.DestPorts) == 1 {
			fmt.Fprintf(&b, " on port %d", a.DestPorts[0])
		}
	case name == "IPSweep" || a.UniqueDestHosts > 1 && a.DestHost == nil:
		fmt.Fprintf(&b, "%s probed %s", a.Source, plural(a.UniqueDestHosts, "host"))
		if len(a.DestPorts) == 1 {
			fmt.Fprintf(&b, " on port %d", a.DestPorts[0])
		} else {
			fmt.Fprintf(&b, " on %s", plural(a.UniqueDestPorts, "port"))
		}
	case a.DestHost != nil:
		fmt.Fprintf(&b, "%s probed %s of %s", a.Source, plural(a.UniqueDestPorts, "port"), a.DestHost)
	default:
		fmt.Fprintf(&b, "%s probed %s on %s", a.Source, plural(a.UniqueDestPorts, "port"), plural(a.UniqueDestHosts, "host"))
	}
	if len(a.MemberSources) > 0 {
		fmt.Fprintf(&b, " from %d addresses of its network", len(a.MemberSources))
	}
	fmt.Fprintf(&b, " (%s", a.Label)
	if a.ScanType != "" && a.HTTP == nil {
		fmt.Fprintf(&b, ", %s scan", a.ScanType)
	}
	if a.Tool != "" {
		fmt.Fprintf(&b, ", %s", a.Tool)
	}
	fmt.Fprintf(&b, "): %s", a.Status)
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
