import ArgumentParser

@main
struct ChronicleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chronicle", abstract: "Durable sagas over RabbitMQ.")
}
