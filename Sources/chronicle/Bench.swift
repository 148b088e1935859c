import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures beside their ceilings, measured in the same run.",
        subcommands: [BenchTrips.self, BenchStore.self, BenchTransport.self],
        defaultSubcommand: BenchTrips.self
    )
}
