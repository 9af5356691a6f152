/// SwiftNIO's ByteToMessageDecoderVerifier idea, for our incremental parsers: an input parsed
/// whole, split in two at each of `cuts`, and (small inputs) one byte at a time must give the
/// same outcome; a parser that depends on how TCP segmented the stream is a smuggling bug
/// waiting to happen. A value (not expectations) so a harness can run it off the pool.
public struct SplitCheck<Outcome: Equatable & Sendable>: Sendable {
    /// The outcome of the input parsed whole.
    public var whole: Outcome
    /// The first way of cutting the input that gave another outcome, if any.
    public var difference: String?

    /// - Parameter parse: feeds the pieces, in order, to a fresh parser and returns its outcome.
    public init(_ bytes: [UInt8], cuts: some Sequence<Int>, byteByByteUpTo limit: Int, parse: ([ArraySlice<UInt8>]) -> Outcome) {
        whole = parse([bytes[...]])
        difference = nil
        for cut in cuts where parse([bytes[..<cut], bytes[cut...]]) != whole {
            difference = "split at \(cut) differs"
            return
        }
        if bytes.count <= limit, parse(bytes.indices.map { bytes[$0...$0] }) != whole {
            difference = "byte-by-byte differs"
        }
    }
}
