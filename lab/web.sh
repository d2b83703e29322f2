# shellcheck shell=bash
# The web scanners of issue 10 and two benign clients, one invocation each,
# run from the scanner namespace against lab/webserver.py in the target
# namespace. Sourced after lab/netns.sh by pcaps/capture.sh (which records
# the shipped pcaps/web-*.pcap) and by lab/web.go (the tests), so a capture
# and a test run the very same command.
#
# Each run is bounded: 'timeout' on every tool, and a wordlist of 959 words
# (dirb's small.txt), so a run takes seconds and sends about a thousand
# requests, as a short real scan does.

WEB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEB_WORDLIST=${WEB_WORDLIST:-/usr/share/dirb/wordlists/small.txt}
WEB_TIMEOUT=${WEB_TIMEOUT:-60}
# Firefox ESR 128 on Linux, as that browser sends it.
WEB_FIREFOX_UA='Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
WEB_TOOLS=(nmap-http-enum dirb gobuster ffuf ffuf-ipv6 wfuzz wapiti sqlmap sqlmap-random-agent whatweb
	browse-assets browse-firefox)

# web_server SECONDS [LOG]: becomes the lab web server in the target
# namespace (exec, so the caller's PID is the server's), on port 80 of the
# target's IPv4 and IPv6 addresses, for at most SECONDS; with LOG, one line
# per request is appended there.
web_server() {
	local log=()
	[[ -z ${2:-} ]] || log=(--log "$2")
	exec ip netns exec "$NS_TGT" python3 "$WEB_DIR/webserver.py" --bind "$TGT_IP" --bind "$TGT_IP6" \
		--port 80 --timeout "${1:-120}" "${log[@]}"
}

# web_wait: returns once the server listens on port 80, fails after 5 s.
web_wait() {
	local _
	for _ in $(seq 50); do
		ip netns exec "$NS_TGT" ss -ltn | grep -q ":80 " && return 0
		sleep 0.1
	done
	echo "lab web server did not start" >&2
	return 1
}

# web_run TOOL: runs one tool of WEB_TOOLS from the scanner namespace
# against the server, and returns the tool's status. wapiti and sqlmap keep
# sessions under HOME: a fresh temporary one each run, so no run depends on
# an earlier one.
web_run() {
	local tool=$1 home rc=0 u="http://$TGT_IP"
	home=$(mktemp -d)
	local run=(ip netns exec "$NS_SCAN" env HOME="$home" timeout "$WEB_TIMEOUT")
	case $tool in
	nmap-http-enum) "${run[@]}" nmap -n -Pn -p 80 --script http-enum "$TGT_IP" || rc=$? ;;
	dirb) "${run[@]}" dirb "$u/" "$WEB_WORDLIST" -S -r || rc=$? ;;
	gobuster) "${run[@]}" gobuster dir -u "$u/" -w "$WEB_WORDLIST" -t 10 -q --no-progress || rc=$? ;;
	ffuf) "${run[@]}" ffuf -u "$u/FUZZ" -w "$WEB_WORDLIST" -s || rc=$? ;;
	ffuf-ipv6) "${run[@]}" ffuf -u "http://[$TGT_IP6]/FUZZ" -w "$WEB_WORDLIST" -s || rc=$? ;;
	wfuzz) "${run[@]}" wfuzz -z "file,$WEB_WORDLIST" --hc 404 "$u/FUZZ" || rc=$? ;;
	wapiti)
		"${run[@]}" wapiti -u "$u/" --flush-session -d 3 --max-scan-time 50 \
			-m sql,xss,exec,file,backup,htaccess,shellshock \
			-f txt -o "$home/report.txt" || rc=$?
		;;
	sqlmap) "${run[@]}" sqlmap -u "$u/item?id=1" --batch --flush-session || rc=$? ;;
	sqlmap-random-agent) "${run[@]}" sqlmap -u "$u/item?id=1" --batch --flush-session --random-agent || rc=$? ;;
	whatweb) "${run[@]}" whatweb -a 3 "$u/" || rc=$? ;;
	browse-assets)
		# A browser loading one page with 60 assets: the page, then the
		# assets over six keep-alive connections at once, then the two
		# files a browser asks for by itself (both 404 here).
		local i n a assets=() pids=()
		for n in $(seq -w 0 19); do assets+=("/static/css/style$n.css" "/static/js/app$n.js" "/static/img/photo$n.png"); done
		"${run[@]}" curl -s -o /dev/null "$u/gallery.html" || rc=$?
		for i in 0 1 2 3 4 5; do
			local args=()
			for ((a = i; a < ${#assets[@]}; a += 6)); do args+=(-o /dev/null "$u${assets[a]}"); done
			"${run[@]}" curl -s "${args[@]}" &
			pids+=($!)
		done
		for i in "${pids[@]}"; do wait "$i" || rc=$?; done
		"${run[@]}" curl -s -o /dev/null "$u/favicon.ico" -o /dev/null "$u/robots.txt" || rc=$?
		;;
	browse-firefox)
		# A person reading three pages, with Firefox's User-Agent and the
		# Referer a browser sends, a second or two apart.
		local hdr=(-A "$WEB_FIREFOX_UA" -H 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
			-H 'Accept-Language: en-US,en;q=0.5')
		"${run[@]}" curl -s -o /dev/null "${hdr[@]}" "$u/" || rc=$?
		sleep 1.5
		"${run[@]}" curl -s -o /dev/null "${hdr[@]}" -e "$u/" "$u/about.html" || rc=$?
		sleep 2
		"${run[@]}" curl -s -o /dev/null "${hdr[@]}" -e "$u/about.html" "$u/item?id=2" || rc=$?
		;;
	*)
		echo "web_run: unknown tool $tool (one of: ${WEB_TOOLS[*]})" >&2
		rc=2
		;;
	esac
	rm -rf "$home"
	return "$rc"
}
