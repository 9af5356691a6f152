import Crypto
import Foundation
import Store

/// With a shared database, every instance must see the same media directory at the same path:
/// results are stored by absolute path, and any instance serves, delivers or edits any task's
/// video (SPEC §16). Start-up checks it with a witness: the first instance on a database writes
/// a file of a random name into its media directory and then records name and directory in the
/// database; each later instance must find that very file, in a directory of the same path.
///
/// The file is written before it is recorded, so a crash in between leaves only a stray file,
/// never a record no one can satisfy. An instance on its own media (a local disk, an unshared
/// volume) cannot see another's witness and refuses to start, instead of failing later on every
/// task another instance finished.
enum SharedMediaCheck {
    static let settingKey = "media.sharedWitness"

    struct Unshared: Error, CustomStringConvertible {
        let description: String
    }

    static func verify(directory given: String, store: any InstanceRepository) throws {
        // One spelling per directory: `/mnt/media/`, `/mnt/media` and a relative path agree.
        let directory = MediaStore.standardized(given)
        let token = Crypto.hex(Crypto.randomBytes(16))
        let mine = witnessPath(directory, token)
        try Data(token.utf8).write(to: URL(fileURLWithPath: mine), options: .atomic)
        let recorded = try store.setting(settingKey) { "\(token) \(directory)" }
        let parts = recorded.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw Unshared(description: "the media witness recorded in the database is malformed") }
        if parts[0] == token { return }  // this instance is the first: its witness is the one
        try? FileManager.default.removeItem(atPath: mine)
        let (theirs, theirDirectory) = (parts[0], parts[1])
        guard theirDirectory == directory else {
            throw Unshared(description: """
                media directory \(directory) differs from \(theirDirectory), the one the other instances on this database use: \
                results are stored by path, so mount the shared media storage at the same path on every instance
                """)
        }
        let seen = (try? String(contentsOfFile: witnessPath(directory, theirs), encoding: .utf8)) ?? ""
        guard seen == theirs else {
            throw Unshared(description: """
                media directory \(directory) is not the one the other instances on this database share: the witness file \
                .reelgate-witness-\(theirs) another instance wrote there is missing. Mount the shared media storage there; \
                if it was emptied or replaced on purpose, delete the database setting '\(settingKey)' to start afresh
                """)
        }
    }

    static func witnessPath(_ directory: String, _ token: String) -> String { "\(directory)/.reelgate-witness-\(token)" }
}
