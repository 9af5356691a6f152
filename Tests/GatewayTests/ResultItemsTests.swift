import Domain
@testable import Gateway
import Testing

@Suite("Result items")
struct ResultItemsTests {
    /// A stored request is read for its reply options only when it names one as a key; the
    /// shortcut must never miss a key or take a prompt's text for one.
    @Test func replyOptionsComeFromTheStoredRequestsKeysOnly() {
        func stored(_ task: [String: JSONValue]) -> String { JSONValue.object(task).serialized() }
        #expect(ResultItems.replyOptions(stored(["taskType": "videoInference", "positivePrompt": "a cat"])).isEmpty)
        let both = ResultItems.replyOptions(stored(["includeCost": true, "outputType": "dataURI", "positivePrompt": "a cat"]))
        #expect(both["includeCost"] == true && both["outputType"] == "dataURI")
        #expect(ResultItems.replyOptions(stored(["outputType": "base64Data"]))["outputType"] == "base64Data")
        #expect(ResultItems.replyOptions(#"{"includeCost":true}"#)["includeCost"] == true)  // the key is the whole text but its value
        #expect(ResultItems.replyOptions("{}").isEmpty && ResultItems.replyOptions("").isEmpty)
        // The words inside a prompt are escaped text, not a key.
        let prompt = ResultItems.replyOptions(stored(["positivePrompt": #"say "includeCost": true and "outputType": "URL""#]))
        #expect(prompt["includeCost"] == nil && prompt["outputType"] == nil)
    }
}
