# Reads 'go test -bench' output and prints the median pkts/s of each
# benchmark and the ratios the README reports.
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 1; i <= NF; i++) {
		if ($i == "pkts/s" || $i == "ns/pkt") v[name, ++n[name]] = $(i-1)
		# Memory figures are kept under the metric's unit as well.
		if ($i == "B/source" || $i == "B/pair" || $i == "B/vertical-pair" || $i == "MB/1M-spoofed" || $i == "MB-peak-RSS") { u = name " " $i; v[u, ++n[u]] = $(i-1) }
	}
}
function median(name,   a, k, i, j, t) {
	k = n[name]
	for (i = 1; i <= k; i++) a[i] = v[name, i]
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	r = median("BenchmarkReplay"); t = median("BenchmarkTcpdumpFilter"); g = median("BenchmarkReplayNewPacket")
	if (r > 0) printf "\nmedian packets/s: scanwatch replay %.2fM, tcpdump SYN filter %.2fM, gopacket.NewPacket %.2fM\n", r/1e6, t/1e6, g/1e6
	if (t > 0) printf "scanwatch / tcpdump     = %.2fx (goal >= 0.7)\n", r/t
	if (g > 0) printf "scanwatch / NewPacket   = %.2fx (goal >= 3)\n", r/g
	dr = median("BenchmarkReplayDefaultRules")
	if (dr > 0 && t > 0) printf "default rules: %.2fM packets/s, %.2fx tcpdump\n", dr/1e6, dr/t
	# The issue's goals are times against tcpdump's, on the same packets:
	# the inverse of the packets/s ratios.
	if (dr > 0 && t > 0) printf "time default / tcpdump  = %.2fx (goal <= 2)\n", t/dr
	if (r > 0 && t > 0) printf "time seed / tcpdump     = %.2fx (goal <= 1)\n", t/r
	m = "BenchmarkDefaultMemory"
	if (n[m " B/source"] > 0) printf "\ndefault rules memory: %.0f B per one-probe source, %.0f B per (source, host, port) pair (%.0f B scanning one host), %.1f MB live heap after 1 M spoofed sources\n", median(m " B/source"), median(m " B/pair"), median(m " B/vertical-pair"), median(m " MB/1M-spoofed")
	m = "BenchmarkDefaultSpoofedMillionRSS MB-peak-RSS"
	if (n[m] > 0) printf "1 M spoofed one-SYN sources, default rules: peak RSS %.1f MB (goal <= 128)\n", median(m)
	f = median("BenchmarkXDP/floor")
	if (f > 0) {
		printf "\nXDP program, median ns/pkt (BPF_PROG_TEST_RUN, 1e6 repeats), and times the floor:\n"
		k = split("floor ack ack_http_off ack_unseen ack_probe ack_data udp udp_probe syn_repeat syn_new syn_new_no_admission syn_sweep http_body http http_budget", cs, " ")
		for (i = 1; i <= k; i++) { m = median("BenchmarkXDP/" cs[i]); if (m > 0) printf "  %-20s %7.1f ns  %5.1fx\n", cs[i], m, m/f }
		printf "  one core at 10GbE minimum-size frames (14.88 Mpps) has 67 ns per packet\n"
	}
	f = median("BenchmarkEgress/floor")
	if (f > 0) {
		printf "\negress program (TCX, every packet the host sends), median ns/pkt, and times a TC program's floor:\n"
		k = split("floor tcp udp", cs, " ")
		for (i = 1; i <= k; i++) { m = median("BenchmarkEgress/" cs[i]); if (m > 0) printf "  %-20s %7.1f ns  %5.1fx\n", cs[i], m, m/f }
	}
}
