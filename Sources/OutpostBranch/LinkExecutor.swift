import Dispatch

/// Where a branch's link to its parent runs: threads of its own. The link applies whole pages
/// to the branch's replica with the client's sync engine, which waits on SQLite; on the
/// cooperative threads that would hold one of the threads that serve the branch's reps.
final class LinkExecutor: TaskExecutor, Sendable {
    /// Concurrent, as the cooperative pool is: a round fetches its next page while it applies
    /// the current one.
    private let queue = DispatchQueue(label: "outpost.upstream-link", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    /// The one executor of the process's links.
    static let shared = LinkExecutor()
}
