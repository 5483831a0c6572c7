"""Examples from event logs of any size, one piece of the log at a time.

The in-memory path (`mtrec_tf.data.prepare`) holds the whole log. Here the same split,
examples and statistics come from two passes that each hold one piece:

1. events are read, validated and numbered file by file (Parquet in row chunks), and each
   event goes to the bucket of its user (a hash of the user id), so that every user's
   events are in one bucket (`events`, `buckets`); the time split's cutoffs are exact
   ranks over all timestamps (`cutoffs`);
2. each bucket is split, turned into examples by the in-memory builder and tallied for the
   statistics (`pieces`); the catalogue's examples are built once.

`local` runs the passes in this process with bounded memory; `beam` runs the same functions
as an Apache Beam pipeline.
"""

# How `mtrec data examples` builds: in this process by bucket, the whole log in memory, or on
# a Beam runner (`beam.write_examples_with_beam`).
BEAM_RUNNERS: tuple[str, ...] = ("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")
RUNNERS: tuple[str, ...] = ("local", "memory", *BEAM_RUNNERS)
