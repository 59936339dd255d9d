import Minibatch
import Testing

/// Records an issue unless `body` throws exactly `expected`.
///
/// Errors are compared by description: it carries every payload and also matches NaN payloads,
/// which `==` does not.
public func expectError<R>(
  _ expected: MinibatchError, _ body: () throws -> R,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  do {
    _ = try body()
    Issue.record("expected \(expected), got no error", sourceLocation: sourceLocation)
  } catch let error as MinibatchError {
    #expect("\(error)" == "\(expected)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
  }
}
