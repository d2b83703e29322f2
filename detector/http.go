package detector

// HTTP is what a sensor read of one HTTP message head on the wire: the
// first TCP segment of a request (client to server), or the status line
// of a response (server to client). Both sensors read the same bounded
// prefix of the segment (httpwire.PrefixBytes), so live and replay hand
// the rules the same fields. An Event carrying one is a TCP data segment
// (Kind KindOther); the scan rules of the starting rule ignore it.
type HTTP struct {
	// Response: a status line. The event's Src is then the server and
	// Dst the client whose requests it answers.
	Response bool
	Status   uint16 // response status code, 100-999

	Method    string // request method as sent ("GET")
	Target    string // request target as sent: path and query, percent-encoding kept
	Host      string // Host header, "" when absent or past the prefix
	UserAgent string // User-Agent header, "" when absent or past the prefix
	Referer   bool   // a Referer header was read
	// Head is the request line and the header lines read, as sent (at most
	// the prefix): where injection payloads in headers are looked for.
	Head string
	// Truncated: the head went on past the prefix the sensors read, so
	// headers after it are unknown.
	Truncated bool
	// Skipped counts requests from the same client the live sensor did not
	// copy since its previous record (the kernel's per-source budget). 0 in
	// replay, which reads every request. A record with Skipped set and no
	// Method carries only that count: the requests skipped after a
	// client's last copied head, flushed once it has gone quiet.
	Skipped uint32
}
