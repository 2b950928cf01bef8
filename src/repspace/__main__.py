from repspace.cli import main

main()
