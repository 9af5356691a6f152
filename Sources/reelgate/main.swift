import Foundation
import Gateway

// Thin by design: everything lives in the Gateway module where it can be tested.
let code = await CommandLineInterface.main(CommandLine.arguments, environment: ProcessInfo.processInfo.environment)
exit(code)
