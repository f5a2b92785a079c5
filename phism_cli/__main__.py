from phism_cli.cli.main import main

main()
