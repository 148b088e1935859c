import ArgumentParser

@main
struct ChronicleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronicle",
        abstract: "Durable sagas as plain Swift async functions, over RabbitMQ and SQLite.",
        discussion: """
            The worked example books trips: reserve a hotel, reserve a flight, retry each with back-off, and \
            cancel the hotel if the flight cannot be had. See README.md.
            """,
        subcommands: [
            RunCommand.self, ServicesCommand.self, StartTripCommand.self, WatchCommand.self, Demo.self,
            HistoryCommand.self, ListCommand.self, TimersCommand.self,
            VerifyCommand.self, Bench.self,
        ]
    )
}
