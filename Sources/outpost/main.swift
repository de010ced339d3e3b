import OutpostCLI

await OutpostCommand.runFromCommandLine()
