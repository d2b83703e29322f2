# scanwatch — see README.md. Two commands matter on a fresh machine:
#   make demo    replay the shipped captures and print the alerts table
#   make test    every test, as CI runs them (root needed for the XDP tests)

GO       ?= go
BIN      := bin/scanwatch
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.branch=$(BRANCH)
PCAPS    := $(sort $(wildcard pcaps/*.pcap))

.PHONY: all build image demo deps test test-short bench fuzz generate lab captures clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/scanwatch

# The container image, stamped like make build (docker needed; not run by the tests).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg BRANCH=$(BRANCH) -t scanwatch:$(VERSION) .

demo: build
	@echo "Replaying $(words $(PCAPS)) shipped captures (pcaps/README.md says what each is)."
	@echo; echo "Default rules:"
	@./$(BIN) replay --log.level warn --format table $(PCAPS)
	@echo; echo "The starting LogScale rule, exactly (--rules seed):"
	@./$(BIN) replay --log.level warn --rules seed --format table $(PCAPS)

# Debian packages the tests use; installs them when run as root.
deps:
	@lab/deps.sh

test: deps
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test -count=1 ./...

test-short:
	$(GO) test -short ./...

# Throughput as ratios from one run: scanwatch replay vs tcpdump's SYN
# filter vs a gopacket.NewPacket decode, on one generated 1M-SYN capture;
# then the default rules' memory (the peak-RSS one alone in its process);
# then the XDP and egress programs' cost per packet through
# BPF_PROG_TEST_RUN (root).
bench:
	$(GO) test ./capture -run '^$$' -bench 'Replay|Tcpdump' -benchtime 3x -count 5 | tee /tmp/scanwatch-bench.txt
	$(GO) test ./detector -run '^$$' -bench 'DefaultMemory' -benchtime 1x -count 3 | tee -a /tmp/scanwatch-bench.txt
	$(GO) test ./detector -run '^$$' -bench 'SpoofedMillionRSS' -benchtime 1x | tee -a /tmp/scanwatch-bench.txt
	$(GO) test ./sensor -run '^$$' -bench 'XDP|Egress' -benchtime 3x -count 3 | tee -a /tmp/scanwatch-bench.txt
	@awk -f bench/ratios.awk /tmp/scanwatch-bench.txt
	# Fleet: N sensors through a real nats-server to one correlator, and
	# the batch wire format against JSON (README, Fleet).
	$(GO) test ./fleet -run '^$$' -bench 'Fleet|Wire' -benchtime 2x

fuzz:
	$(GO) test ./capture -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./capture -run '^$$' -fuzz FuzzCaptureReader -fuzztime 60s
	$(GO) test ./fleet -run '^$$' -fuzz FuzzDecodeBatch -fuzztime 60s

# Regenerates the BPF object and its Go bindings (clang, llvm, libbpf-dev).
generate:
	$(GO) generate ./bpf

# A live demo in namespaces: scanwatch run against a real nmap scan (root).
lab: build
	lab/lab.sh

# Re-creates the shipped captures with real tools (root; see pcaps/README.md).
captures:
	sudo pcaps/capture.sh

clean:
	rm -rf bin
