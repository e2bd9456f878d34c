from embedlab.cli.app import main

main()
