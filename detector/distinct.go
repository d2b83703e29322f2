package detector

// Exact distinct-value sets sized for the common case: most sources touch one
// or two ports and hosts, so values start inline and only scanners pay for a
// growing set. Exactness matters because the starting rule's thresholds are
// exact counts that users compare with their LogScale results.

const inlinePorts = 4

// portSet is an exact set of 16-bit ports: inline, then a sorted slice, then
// an 8 KiB bitmap once the slice would cost more than the bitmap.
type portSet struct {
	inline [inlinePorts]uint16
	n      uint32
	more   *portOverflow // nil for the common few-ports source: 8 bytes, not 32
}

type portOverflow struct {
	sorted []uint16
	bits   *[1024]uint64
}

// portSliceMax bounds the sorted slice: a source past it is a scanner, and
// the bitmap's constant-time insert beats a binary search and a memmove.
const portSliceMax = 256

func (s *portSet) Len() int { return int(s.n) }

// Add inserts p and reports whether it was new.
func (s *portSet) Add(p uint16) bool {
	switch o := s.more; {
	case o != nil && o.bits != nil:
		w, b := p>>6, uint64(1)<<(p&63)
		if o.bits[w]&b != 0 {
			return false
		}
		o.bits[w] |= b
	case o != nil:
		i, found := searchU16(o.sorted, p)
		if found {
			return false
		}
		if len(o.sorted) >= portSliceMax {
			o.toBitmap()
			return s.Add(p)
		}
		o.sorted = append(o.sorted, 0)
		copy(o.sorted[i+1:], o.sorted[i:])
		o.sorted[i] = p
	default:
		for _, q := range s.inline[:s.n] {
			if q == p {
				return false
			}
		}
		if s.n < inlinePorts {
			s.inline[s.n] = p
			break
		}
		o = &portOverflow{sorted: make([]uint16, 0, 4*inlinePorts)}
		for _, q := range s.inline {
			i, _ := searchU16(o.sorted, q)
			o.sorted = append(o.sorted, 0)
			copy(o.sorted[i+1:], o.sorted[i:])
			o.sorted[i] = q
		}
		s.more = o
		return s.Add(p)
	}
	s.n++
	return true
}

func (o *portOverflow) toBitmap() {
	o.bits = new([1024]uint64)
	for _, q := range o.sorted {
		o.bits[q>>6] |= 1 << (q & 63)
	}
	o.sorted = nil
}

func searchU16(a []uint16, v uint16) (int, bool) {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(a) && a[lo] == v
}

// hostSet is a set of addresses (as 16-byte arrays): one inline, then a
// map, exact up to maxExactHosts; past that a HyperLogLog counts the rest,
// so one source probing millions of (IPv6) hosts costs a bounded 4 KiB
// more instead of a map that grows with them. Sweeps of a /16 stay exact;
// everyone else stays inline.
type hostSet struct {
	first [16]byte
	n     uint32
	more  map[[16]byte]struct{}
	over  *hll // hosts past maxExactHosts
}

const maxExactHosts = 1 << 16

// Len is the number of distinct hosts, estimated past maxExactHosts.
func (s *hostSet) Len() int {
	if s.over != nil {
		return int(s.n) + s.over.estimate()
	}
	return int(s.n)
}

// Estimated says whether Len is an estimate.
func (s *hostSet) Estimated() bool { return s.over != nil }

// Add inserts h and reports whether it was new (past the exact cap: as
// far as the estimate can tell, it reports true).
func (s *hostSet) Add(h [16]byte) bool {
	if s.n == 0 {
		s.first, s.n = h, 1
		return true
	}
	if h == s.first {
		return false
	}
	if s.more == nil {
		s.more = make(map[[16]byte]struct{}, 4)
	}
	if _, ok := s.more[h]; ok {
		return false
	}
	if s.n >= maxExactHosts {
		if s.over == nil {
			s.over = newHLL()
		}
		s.over.add(hashKey(h))
		return true
	}
	s.more[h] = struct{}{}
	s.n++
	return true
}
