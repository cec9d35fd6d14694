from coverctl.cli.app import main

main()
