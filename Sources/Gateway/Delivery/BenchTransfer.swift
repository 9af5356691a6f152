import Curl
import Domain
import Foundation

/// `reelgate bench-transfer FETCH_URL UPLOAD_URL DIR`: one result through the production transfer
/// path (streamed download to a file, then a streamed PUT of that file), as workers and the
/// uploader do it, timed. bench/delivery runs it under `/usr/bin/time` to read peak RSS.
///
/// `reelgate bench-transfer s3 ENDPOINT BUCKET FILE DIR`: a result stored in and read back from an
/// S3-compatible bucket, the way an s3 media store does it (multipart upload from the file, then
/// the object staged into DIR).
enum BenchTransfer {
    static func run(_ arguments: [String]) async -> Int32 {
        let args = Array(arguments.dropFirst(2))
        if args.first == "s3" { return await objectStore(Array(args.dropFirst())) }
        guard args.count == 3 else {
            print("usage: reelgate bench-transfer FETCH_URL UPLOAD_URL DIR")
            return 2
        }
        let client = CurlClient(threads: 2)
        let path = "\(args[2])/transfer.bin"
        do {
            let start = Date()
            let fetched = try await client.perform(CurlRequest(
                url: args[0], sink: .file(path: path, maxBytes: 8 << 30), totalTimeout: nil, lowSpeed: (1024, 30)))
            let middle = Date()
            let uploaded = try await client.perform(CurlRequest(
                method: "PUT", url: args[1], headers: [("Content-Type", "video/mp4")], body: .file(path: path),
                sink: .memory(maxBytes: 64 << 10), totalTimeout: nil, lowSpeed: (1024, 30)))
            let end = Date()
            guard fetched.status == 200, (200..<300).contains(uploaded.status) else {
                print("unexpected status: fetch \(fetched.status), upload \(uploaded.status)")
                return 1
            }
            print(String(format: "bytes %lld fetch %.3f upload %.3f total %.3f", fetched.bodyBytes,
                         middle.timeIntervalSince(start), end.timeIntervalSince(middle), end.timeIntervalSince(start)))
            try? FileManager.default.removeItem(atPath: path)
            return 0
        } catch {
            print("transfer failed: \(error)")
            return 1
        }
    }

    static func objectStore(_ args: [String]) async -> Int32 {
        guard args.count == 4 else {
            print("usage: reelgate bench-transfer s3 ENDPOINT BUCKET FILE DIR")
            return 2
        }
        let client = CurlClient(threads: 4)
        var settings = ObjectStoreSettings(endpoint: args[0], bucket: args[1])
        settings.accessKeyId = "bench"
        settings.secretAccessKey = "bench"
        // PART_BYTES: the store's partBytes (16 MiB unless set), to see what multipart costs.
        if let part = ProcessInfo.processInfo.environment["PART_BYTES"].flatMap({ Int64($0) }) { settings.partBytes = part }
        let back = "\(args[3])/back.bin"
        do {
            let objects = try ObjectMedia(settings: settings, curl: client)
            try? await objects.client.createBucket()
            let start = Date()
            try await objects.upload(file: args[2], key: "bench.bin", contentType: "video/mp4")
            let middle = Date()
            let size = fileSize(atPath: args[2]) ?? 0
            let staged = try await objects.stage(key: "bench.bin", bytes: size, to: back)
            let end = Date()
            print(String(format: "bytes %lld upload %.3f download %.3f total %.3f", staged.bodyBytes,
                         middle.timeIntervalSince(start), end.timeIntervalSince(middle), end.timeIntervalSince(start)))
            try? FileManager.default.removeItem(atPath: back)
            return 0
        } catch {
            print("transfer failed: \(error)")
            return 1
        }
    }
}
