from tokenforge.cli.main import main

main()
