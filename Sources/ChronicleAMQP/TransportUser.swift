import ServiceLifecycle

/// A service that uses an ``AMQPTransport`` (the processor, a consumer of replies), run so that a graceful
/// shutdown cannot hang on a broker that is gone.
///
/// A `ServiceGroup` shuts its services down in reverse order, so the transport, listed first, is told only once
/// the services after it have ended. A service that waits on the transport meanwhile — a publish, an
/// acknowledgement, a consumer's registration — while the broker cannot be reached (it is down, or its virtual
/// host was deleted) would wait for ever, and with it the whole group: SIGTERM would not end the process. So
/// when a graceful shutdown has begun and the service has not ended within `patience`, the transport is shut
/// down too; after its ``AMQPTransport/Configuration/shutdownGracePeriod`` what still waits on it fails, and the
/// service can end.
public struct TransportUser: Service {
    let service: any Service
    let transport: AMQPTransport
    let patience: Duration

    public init(_ service: any Service, of transport: AMQPTransport, patience: Duration = .seconds(5)) {
        self.service = service
        self.transport = transport
        self.patience = patience
    }

    public func run() async throws {
        let (transport, patience) = (self.transport, self.patience)
        try await withGracefulShutdownHandler {
            try await service.run()
        } onGracefulShutdown: {
            Task {
                try? await Task.sleep(for: patience)
                transport.shutdown()
            }
        }
    }
}
