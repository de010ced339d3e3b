import ArgumentParser
import OutpostCLI

OutpostCommand.main()
