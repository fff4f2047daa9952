package imagein

import (
	"fmt"
	"net/netip"
	"strings"
)

// rangeRule names one block of addresses that a fetch must never reach.
type rangeRule struct {
	prefix netip.Prefix
	reason string
}

func rules(reason string, prefixes ...string) []rangeRule {
	out := make([]rangeRule, len(prefixes))
	for i, p := range prefixes {
		out[i] = rangeRule{netip.MustParsePrefix(p), reason}
	}
	return out
}

// blockedV4 lists the IPv4 ranges that are not publicly routable unicast
// (IANA special-purpose registry), plus the ranges an internal service is
// likely to sit in.
var blockedV4 = concat(
	rules("this-network (0.0.0.0/8)", "0.0.0.0/8"),
	rules("private (RFC 1918)", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
	rules("shared address space (CGNAT)", "100.64.0.0/10"),
	rules("loopback", "127.0.0.0/8"),
	rules("link-local (cloud metadata)", "169.254.0.0/16"),
	rules("IETF protocol assignments", "192.0.0.0/24"),
	rules("documentation", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
	rules("6to4 relay anycast", "192.88.99.0/24"),
	rules("benchmarking", "198.18.0.0/15"),
	rules("multicast", "224.0.0.0/4"),
	rules("reserved or broadcast", "240.0.0.0/4"),
)

// blockedV6Global lists the special-purpose ranges inside 2000::/3, the only
// IPv6 block that holds global unicast addresses; everything outside it is
// refused unless it embeds an IPv4 address (see embeddedV4).
var blockedV6Global = concat(
	rules("IETF protocol assignments (incl. Teredo)", "2001::/23"),
	rules("documentation", "2001:db8::/32", "3fff::/20"),
)

var (
	globalV6   = netip.MustParsePrefix("2000::/3")
	nat64WKP   = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	v4Compat   = netip.MustParsePrefix("::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
)

func concat(lists ...[]rangeRule) []rangeRule {
	var out []rangeRule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// blockedReason says why ip must not be fetched from, or returns "" when ip
// is a public unicast address. An IPv4 address carried inside IPv6
// (IPv4-mapped, IPv4-compatible, NAT64 well-known prefix, 6to4) is judged by
// the IPv4 address it carries, since that is where the packets end up.
func blockedReason(ip netip.Addr) string {
	ip = ip.WithZone("")
	if v4, how := embeddedV4(ip); how != "" {
		if r := blockedReason(v4); r != "" {
			return r + " inside " + how
		}
		if how == "IPv4-compatible IPv6" {
			return "deprecated IPv4-compatible IPv6"
		}
		return ""
	}
	if ip.Is4() {
		for _, r := range blockedV4 {
			if r.prefix.Contains(ip) {
				return r.reason
			}
		}
		return ""
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.IsPrivate():
		return "unique local (fc00::/7, incl. cloud metadata)"
	case nat64Local.Contains(ip):
		return "local-use NAT64"
	case !globalV6.Contains(ip):
		return "not global unicast IPv6"
	}
	for _, r := range blockedV6Global {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// embeddedV4 returns the IPv4 address that ip carries and how it carries
// it, or how == "" when it carries none.
func embeddedV4(ip netip.Addr) (v4 netip.Addr, how string) {
	if ip.Is4() {
		return netip.Addr{}, ""
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap(), "IPv4-mapped IPv6"
	case nat64WKP.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64"
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4"
	case v4Compat.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible IPv6"
	}
	return netip.Addr{}, ""
}

// neverAllowed reports whether ip is an address no allowlist can open:
// connecting to an unspecified address reaches the local host, and
// multicast or broadcast are never image servers.
func neverAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsUnspecified() || ip.IsMulticast() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Allowlist is the operator's list of internal destinations that may be
// fetched even though they are not public: network prefixes and host names.
// The zero Allowlist allows nothing.
type Allowlist struct {
	prefixes []netip.Prefix
	hosts    []string // lower case, no trailing dot; "*.example.com" matches subdomains
}

// ParseAllowlist parses operator entries, each one of: an IP address
// ("10.1.2.3", "fd00::5"), a CIDR prefix ("10.20.0.0/16"), a host name
// ("images.corp.example") or a wildcard for its subdomains
// ("*.corp.example"). Empty entries are ignored. It reports every bad entry.
func ParseAllowlist(entries []string) (Allowlist, error) {
	var a Allowlist
	var bad []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil && ip.Zone() == "" {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(e), ".")
		if validHostPattern(name) {
			a.hosts = append(a.hosts, name)
			continue
		}
		bad = append(bad, fmt.Sprintf("%q", e))
	}
	if len(bad) > 0 {
		return Allowlist{}, fmt.Errorf("imagein: allowlist entries %s are neither an IP address, a CIDR prefix, a host name nor *.domain", strings.Join(bad, ", "))
	}
	return a, nil
}

// allowsIP reports whether ip lies in an allowed prefix. An IPv4-mapped
// address is the IPv4 address it maps.
func (a Allowlist) allowsIP(ip netip.Addr) bool {
	if neverAllowed(ip) {
		return false
	}
	ip = ip.WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// allowsHost reports whether host (as written in a URL) is an allowed name.
func (a Allowlist) allowsHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, h := range a.hosts {
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// validHostPattern reports whether s is a DNS host name, optionally
// prefixed by "*.", that is not itself a number.
func validHostPattern(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 || numericHost(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// numericHost reports whether host is meant as an IPv4 number in the sense
// of the WHATWG URL standard (and of inet_aton): its last dot-separated label
// is decimal, octal (leading 0) or hexadecimal (0x). Such forms include
// "2130706433", "0177.0.0.1", "0x7f.1" and "127.1"; only canonical dotted
// quads are accepted (see canonicalIPv4).
func numericHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := last
	if len(last) >= 2 && (last[:2] == "0x" || last[:2] == "0X") {
		digits = last[2:]
		for _, c := range digits {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
		return true
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// canonicalIPv4 reports whether host is an IPv4 address in the one form
// every parser reads the same way: four decimal octets, no leading zeros.
func canonicalIPv4(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Is4()
}
