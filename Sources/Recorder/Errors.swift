/// An error in something the user gave us: a config, a data file, a command-line value.
/// The message names what is wrong and where (JSON path or file) and, where possible, what to do.
/// The command line maps it to exit code 2.
public struct InputError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
