package fleet

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "scanwatch"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// constMetrics are a collector's two ways of sending a value read at
// scrape time: a counter (with label values) and an unlabelled gauge.
func constMetrics(ch chan<- prometheus.Metric) (counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64)) {
	counter = func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge = func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	return counter, gauge
}

// PublisherCollector exports a publisher's counters at scrape time.
type PublisherCollector struct{ S *PublisherStats }

var (
	pubEvents    = desc("publish_events_total", "Events handed to the publisher (--publish).")
	pubRecords   = desc("publish_records_total", "Probe records batched for NATS, by result: published (acknowledged by JetStream) or dropped (queue full while NATS was away or slow, or undelivered at exit).", "result")
	pubBatches   = desc("publish_batches_total", "Probe batches, by result: published or dropped.", "result")
	pubErrors    = desc("publish_errors_total", "Failed publish attempts; each failed batch is retried with back-off.")
	pubQueue     = desc("publish_queue_batches", "Batches waiting to be published.")
	pubQueueCap  = desc("publish_queue_capacity_batches", "Batches the publish queue holds before it drops (--publish.queue).")
	pubConnected = desc("publish_connected", "1 while connected to NATS.")
	pubLast      = desc("publish_last_success_timestamp_seconds", "Unix time of the last batch JetStream acknowledged.")
)

func (c PublisherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pubEvents, pubRecords, pubBatches, pubErrors, pubQueue, pubQueueCap, pubConnected, pubLast} {
		ch <- d
	}
}

func (c PublisherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.S
	counter, gauge := constMetrics(ch)
	counter(pubEvents, s.Events.Load())
	counter(pubRecords, s.Published.Load(), "published")
	counter(pubRecords, s.Dropped.Load(), "dropped")
	counter(pubBatches, s.BatchesSent.Load(), "published")
	counter(pubBatches, s.BatchesDropped.Load(), "dropped")
	counter(pubErrors, s.Errors.Load())
	gauge(pubQueue, float64(s.QueueLen()))
	gauge(pubQueueCap, float64(s.QueueCap))
	conn := 0.0
	if s.Connected.Load() {
		conn = 1
	}
	gauge(pubConnected, conn)
	gauge(pubLast, float64(s.LastPublishedAt.Load())/1e9)
}

// CorrelatorCollector exports a correlator's counters at scrape time.
type CorrelatorCollector struct{ S *CorrelatorStats }

var (
	corMessages  = desc("correlate_messages_total", "Stream messages, by result: processed, rebuilt (read again at start-up to rebuild state), duplicate (delivered again, skipped), invalid (no probe batch).", "result")
	corRecords   = desc("correlate_records_total", "Probe records fed to the detector.")
	corAlerts    = desc("correlate_alerts_total", "Alert records emitted, and held back while rebuilding (already emitted by the previous run).", "result")
	corSensors   = desc("correlate_sensors", "Distinct sensor ids seen since start.")
	corUntracked = desc("correlate_untracked_sensor_batches_total", "Batches of sensors beyond the 65,535 the correlator names.")
	corSeq       = desc("correlate_last_sequence", "Stream sequence of the last message processed.")
	corLag       = desc("correlate_lag_messages", "Messages of the consumer not yet processed: how far behind the stream the correlator is.")
	corLagSec    = desc("correlate_lag_seconds", "Wall time from the last message processed being stored in the stream to its processing.")
	corEventTime = desc("correlate_event_time_seconds", "Newest event time of the last batch processed (Unix time).")
)

func (c CorrelatorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{corMessages, corRecords, corAlerts, corSensors, corUntracked, corSeq, corLag, corLagSec, corEventTime} {
		ch <- d
	}
}

func (c CorrelatorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.S
	counter, gauge := constMetrics(ch)
	rebuilt := s.Rebuilt.Load()
	counter(corMessages, s.Messages.Load()-min(rebuilt, s.Messages.Load()), "processed")
	counter(corMessages, rebuilt, "rebuilt")
	counter(corMessages, s.Duplicates.Load(), "duplicate")
	counter(corMessages, s.Invalid.Load(), "invalid")
	counter(corRecords, s.Records.Load())
	counter(corAlerts, s.Alerts.Load(), "emitted")
	counter(corAlerts, s.Suppressed.Load(), "held_back")
	gauge(corSensors, float64(s.Sensors.Load()))
	counter(corUntracked, s.Untracked.Load())
	gauge(corSeq, float64(s.LastSeq.Load()))
	gauge(corLag, float64(s.Pending.Load()))
	gauge(corLagSec, float64(s.LagNanos.Load())/1e9)
	gauge(corEventTime, float64(s.EventTime.Load())/1e9)
}
