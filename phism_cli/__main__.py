from phism_cli.cli.app import main

main()
