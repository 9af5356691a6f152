/// What the parser produced from the bytes seen so far.
public enum WebSocketEvent: Sendable, Equatable {
    /// A whole text message, reassembled from its fragments and valid UTF-8.
    case text([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// The peer's close frame: its code (nil for an empty payload) and reason. Nothing after it
    /// is read.
    case close(WebSocketCloseCode?, reason: String)
}

/// An incremental RFC 6455 frame parser: bytes in, messages and control frames out, no IO.
///
/// Feed bytes with ``append(_:)`` in whatever pieces they arrive and call ``next()`` until it
/// returns nil (more bytes needed). The outcome is the same however the input is split (the tests
/// feed every vector whole, split at every byte, and byte by byte). Every rule of RFC 6455 §5 is
/// enforced as early as the bytes allow: a bad header fails at its second byte, invalid UTF-8 at
/// the byte that makes it invalid (even mid-frame), an oversized message at the header that would
/// make it too big, before its payload is buffered. The first error is final: the caller closes
/// the connection with its ``WebSocketError/closeCode``.
///
/// Only text messages are accepted (the Runware protocol is JSON); binary ones fail with 1003.
public struct WebSocketParser: Sendable {
    /// Which side's frames this parser reads: a server reads masked client frames.
    public enum Peer: Sendable { case client, server }

    private struct Frame: Sendable {
        var opcode: WebSocketOpcode
        var fin: Bool
        var mask: (UInt8, UInt8, UInt8, UInt8)?
        var remaining: Int
        /// Payload bytes seen so far (for the mask's position).
        var offset = 0
    }

    private enum State: Sendable {
        case header
        case payload(Frame)
        case closed
        case failed(WebSocketError)
    }

    /// May be raised or lowered between messages (after authentication, say).
    public var maxMessageBytes: Int
    public let peer: Peer
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var state: State = .header
    /// The text message being reassembled; nil between messages.
    private var message: [UInt8]?
    private var utf8 = UTF8Validator()
    private var control: [UInt8] = []

    public init(maxMessageBytes: Int, peer: Peer = .client) {
        self.maxMessageBytes = maxMessageBytes
        self.peer = peer
    }

    /// Bytes received and not yet consumed.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Bytes of the message being reassembled (for a memory budget).
    public var pendingMessageBytes: Int { message?.count ?? 0 }

    /// Whether a close frame was read (nothing more will be).
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if case .closed = state { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 4096)
            readIndex = 0
        } else if readIndex >= 4096 || readIndex * 2 >= buffer.count {
            // Reads that end inside a frame header must not keep every byte consumed before.
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes the parser holds, consumed ones not yet dropped included (for tests of the bound).
    public var storedByteCount: Int { buffer.count }

    /// The next event, nil when more bytes are needed, or the error that ends the connection.
    public mutating func next() throws(WebSocketError) -> WebSocketEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .closed:
                return nil
            case .header:
                let frame: Frame
                do {
                    guard let parsed = try parseHeader() else { return nil }
                    frame = parsed
                } catch {
                    state = .failed(error)
                    throw error
                }
                if frame.remaining == 0 {
                    if let event = try finish(frame) { return event }
                } else {
                    state = .payload(frame)
                }
            case .payload(var frame):
                guard readIndex < buffer.count else { return nil }
                let take = min(frame.remaining, buffer.count - readIndex)
                if let failure = consumePayload(&frame, count: take) {
                    state = .failed(failure)
                    throw failure
                }
                if frame.remaining > 0 {
                    state = .payload(frame)
                    return nil
                }
                state = .header
                if let event = try finish(frame) { return event }
            }
        }
    }

    // MARK: Header

    /// The next frame's header once all its bytes are here; checks what it can from the first
    /// two bytes alone.
    private mutating func parseHeader() throws(WebSocketError) -> Frame? {
        let available = buffer.count - readIndex
        guard available >= 2 else { return nil }
        let b0 = buffer[readIndex], b1 = buffer[readIndex + 1]
        let fin = b0 & 0x80 != 0
        guard b0 & 0x70 == 0 else { throw .reservedBits }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { throw .unknownOpcode }
        let masked = b1 & 0x80 != 0
        let length7 = Int(b1 & 0x7F)
        if opcode.isControl {
            guard fin else { throw .fragmentedControl }
            guard length7 <= 125 else { throw .longControl }
        } else {
            switch opcode {
            case .continuation: guard message != nil else { throw .unexpectedContinuation }
            default: guard message == nil else { throw .expectedContinuation }
            }
            if opcode == .binary { throw .binary }
        }
        switch peer {
        case .client: guard masked else { throw .unmasked }
        case .server: guard !masked else { throw .masked }
        }
        let lengthBytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
        let headerBytes = 2 + lengthBytes + (masked ? 4 : 0)
        guard available >= headerBytes else { return nil }
        var length = length7
        if lengthBytes > 0 {
            var value: UInt64 = 0
            for i in 0..<lengthBytes { value = value << 8 | UInt64(buffer[readIndex + 2 + i]) }
            guard value >> 63 == 0 else { throw .lengthTooLarge }
            guard lengthBytes == 2 ? value >= 126 : value > 0xFFFF else { throw .nonMinimalLength }
            guard value <= UInt64(Int.max) else { throw .tooBig }
            length = Int(value)
        }
        if !opcode.isControl {
            let sofar = message?.count ?? 0
            guard length <= maxMessageBytes - sofar else { throw .tooBig }
        }
        var mask: (UInt8, UInt8, UInt8, UInt8)?
        if masked {
            let m = readIndex + 2 + lengthBytes
            mask = (buffer[m], buffer[m + 1], buffer[m + 2], buffer[m + 3])
        }
        readIndex += headerBytes
        if opcode == .text {
            message = []
            message!.reserveCapacity(min(length, 64 << 10))
            utf8 = UTF8Validator()
        }
        if opcode.isControl { control = [] }
        return Frame(opcode: opcode, fin: fin, mask: mask, remaining: length)
    }

    // MARK: Payload

    /// Unmasks `count` payload bytes into the message (checking UTF-8 as they come) or the
    /// control payload; the error if one of them makes the text invalid.
    private mutating func consumePayload(_ frame: inout Frame, count: Int) -> WebSocketError? {
        let start = readIndex
        readIndex += count
        frame.remaining -= count
        let isData = !frame.opcode.isControl
        var failed = false
        buffer.withUnsafeBufferPointer { source in
            let mask = frame.mask.map { [$0.0, $0.1, $0.2, $0.3] }
            var offset = frame.offset
            func unmask(_ i: Int) -> UInt8 {
                guard let mask else { return source[i] }
                defer { offset += 1 }
                return source[i] ^ mask[offset & 3]
            }
            if isData {
                for i in start..<(start + count) {
                    let byte = unmask(i)
                    if !utf8.consume(byte) {
                        failed = true
                        return
                    }
                    message!.append(byte)
                }
            } else {
                for i in start..<(start + count) { control.append(unmask(i)) }
            }
            frame.offset = offset
        }
        return failed ? .invalidUTF8 : nil
    }

    /// A frame ended: a whole message or a control frame to report, or nothing (a fragment).
    private mutating func finish(_ frame: Frame) throws(WebSocketError) -> WebSocketEvent? {
        switch frame.opcode {
        case .text, .continuation:
            guard frame.fin else { return nil }
            guard utf8.isComplete else { return fail(.invalidUTF8) }
            defer { message = nil }
            return .text(message ?? [])
        case .ping: return .ping(control)
        case .pong: return .pong(control)
        case .close:
            if control.isEmpty {
                state = .closed
                return .close(nil, reason: "")
            }
            guard control.count >= 2 else { return fail(.badCloseLength) }
            let code = WebSocketCloseCode(rawValue: UInt16(control[0]) << 8 | UInt16(control[1]))
            guard code.isValidOnTheWire else { return fail(.badCloseCode) }
            var reason = UTF8Validator()
            let reasonBytes = control[2...]
            guard reason.consume(reasonBytes), reason.isComplete else { return fail(.invalidUTF8) }
            state = .closed
            return .close(code, reason: String(decoding: reasonBytes, as: UTF8.self))
        case .binary:
            return fail(.binary)  // refused at the header; here for completeness
        }
    }

    private mutating func fail(_ error: WebSocketError) -> WebSocketEvent? {
        state = .failed(error)
        return nil
    }
}
