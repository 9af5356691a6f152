@testable import S3
import Testing

/// Store errors are classified as upstream errors are: what to retry, what is missing, what is
/// refused; and S3's XML replies are read by element, entities decoded.
struct S3ErrorTests {
    @Test(arguments: [
        (404, "", S3Error.Kind.notFound), (200, "<Error><Code>NoSuchKey</Code></Error>", .notFound),
        (404, "<Error><Code>NoSuchUpload</Code></Error>", .notFound), (403, "<Error><Code>AccessDenied</Code></Error>", .denied),
        (401, "", .denied), (503, "<Error><Code>SlowDown</Code></Error>", .retryable), (500, "", .retryable), (429, "", .retryable),
        (400, "<Error><Code>RequestTimeout</Code></Error>", .retryable), (400, "<Error><Code>InvalidArgument</Code></Error>", .failed),
    ])
    func classification(status: Int, body: String, kind: S3Error.Kind) {
        let error = S3Error(status: status, body: Array(body.utf8), operation: "GetObject", key: "rg/a.mp4")
        #expect(error.kind == kind)
        #expect(error.isRetryable == (kind == .retryable))
    }

    @Test func anErrorNamesItsOperationKeyStatusAndCodeOnly() {
        let error = S3Error(status: 503, body: Array("<Error><Code>SlowDown</Code><Message>secret detail</Message></Error>".utf8),
                            operation: "PutObject", key: "rg/a.mp4")
        #expect("\(error)" == "S3 PutObject of rg/a.mp4: HTTP 503 SlowDown")
    }

    @Test func xmlValuesAndBlocks() {
        let listing = """
            <ListMultipartUploadsResult><Upload><Key>a&amp;b&lt;c.mp4</Key><UploadId>id-1</UploadId><Initiated>2026-12-04T12:00:00.000Z</Initiated></Upload>\
            <Upload><Key>d.mp4</Key><UploadId>id-2</UploadId></Upload></ListMultipartUploadsResult>
            """
        let uploads = S3XML.blocks("Upload", in: listing)
        #expect(uploads.count == 2)
        #expect(S3XML.values(of: "Key", in: uploads[0]) == ["a&b<c.mp4"])
        #expect(S3XML.values(of: "UploadId", in: listing) == ["id-1", "id-2"])
        #expect(S3XML.unescape(S3XML.escape(#"<"&'>"#)) == #"<"&'>"#)
        #expect(S3XML.value(of: "Code", in: Array("<Error></Error>".utf8)) == nil)
    }
}
