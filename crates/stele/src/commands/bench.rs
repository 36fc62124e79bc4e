//! `stele bench …`: runs a benchmark and prints its table.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Ingest over HTTP (batched and single-event) against a raw load of the same rows
    /// (SQLite inserts, or `psql \copy` on PostgreSQL), per `--database` backend.
    Ingest(stele_bench::IngestOptions),
    /// Page and count latencies on generated 1 M / 10 M event databases against raw SQL.
    Query(stele_bench::query::QueryOptions),
    /// Inclusion and consistency proof latency on a 1 M event log against reading one event.
    Proofs(stele_bench::integrity::ProofOptions),
    /// SCIM request throughput with the SCIM audit log on and off, in one run.
    Scim(stele_bench::scim::ScimOptions),
    /// The viewer's Events page (complete HTML) on a large tenant, against the JSON page.
    Viewer(stele_bench::viewer::ViewerOptions),
    /// Ingest with no and with three active streams, in one run, and the streams' delivery lag.
    Streams(stele_bench::streams::StreamsOptions),
    /// A long mixed load (ingest, searches, proofs, exports): memory, open files, WAL size
    /// and p50/p99 per operation, a row per minute.
    Soak(stele_bench::soak::SoakOptions),
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(options) => {
            let report = stele_bench::ingest::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Proofs(options) => {
            let report = stele_bench::integrity::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Scim(options) => {
            let report = stele_bench::scim::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Viewer(options) => {
            let report = stele_bench::viewer::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Streams(options) => {
            let report = stele_bench::streams::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Soak(options) => {
            let report = stele_bench::soak::run(options).await?;
            println!("{report}");
            Ok(())
        }
        BenchCommand::Query(options) => {
            let report = stele_bench::query::run(options).await?;
            println!("{report}");
            Ok(())
        }
    }
}
