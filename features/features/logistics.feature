Feature: Logistics Core reorders what runs low
  The Logistics agent takes an order to check stock and reorder: it reads
  the company's ERPNext (items, bins, suppliers, the stock ledger's daily
  use), applies the reorder rules, drafts one purchase order per supplier
  and warehouse, has those above the policy's limit (EUR 1,000) approved by
  the CEO, and places each in ERPNext exactly once, however often ERPNext
  fails and even if AgentOS stops halfway. It follows the parcels of an
  order with the carrier, puts a parcel in trouble to the CEO, and books the
  goods into ERPNext once they arrive: all the order when nothing says
  otherwise, or what the parcel's shipping notice says it carries, keeping
  the order open until the rest arrives.

  Background:
    Given AgentOS runs on PostgreSQL and NATS JetStream with the demo company's ERPNext and carrier simulated
    And the CEO holds a token

  Scenario: Low stock leads to purchase orders with the right quantities
    When the CEO orders "Check stock in every warehouse and reorder what is running low"
    Then the order is accepted
    And the reorder scan drafts one purchase order for each supplier and warehouse with items to order
    And every line orders whole packs of the item and at least its minimum order, as its reasoning shows
    When the CEO approves every purchase order waiting for approval
    Then every purchase order drafted is placed in ERPNext exactly once
    And the order is closed as completed

  Scenario: A purchase order above the approval threshold waits for the CEO
    When the CEO orders "Check stock in every warehouse and reorder what is running low"
    Then the purchase orders above EUR 1000 wait for the CEO's approval, and only they
    And the purchase orders at or below EUR 1000 are placed in ERPNext without approval
    And the purchase order the CEO is asked to approve is not in ERPNext
    When the CEO approves it
    Then its purchase order is placed in ERPNext exactly once
    And the purchase orders still waiting for approval are not in ERPNext

  Scenario: ERPNext failing twice and losing an answer still gets each purchase order once
    When the CEO orders "Check stock in every warehouse and reorder what is running low"
    Then the purchase orders above EUR 1000 wait for the CEO's approval, and only they
    When ERPNext fails the next 2 requests and loses the answer to the 1 after
    And the CEO approves every purchase order waiting for approval
    Then every purchase order drafted is placed in ERPNext exactly once
    And ERPNext failed and lost answers as planned
    And the order is closed as completed

  Scenario: AgentOS stopped mid-workflow resumes and gets each purchase order once
    When ERPNext takes 300 ms to answer each request
    And the CEO orders "Check stock in every warehouse and reorder what is running low"
    And AgentOS stops abruptly while ERPNext is creating one of its purchase orders
    And AgentOS starts again over the same database, NATS and ERPNext
    And ERPNext answers promptly again
    And the CEO approves every purchase order waiting for approval
    Then every purchase order drafted is placed in ERPNext exactly once
    And the order is closed as completed

  Scenario: The morning scan orders what is clearly below its reorder level
    When the morning scan is given, as the demo gives it
    Then the order "Check stock in every warehouse and reorder what is running low" comes from the schedule
    And the reorder scan orders each of these items, which ERPNext has below their reorder level:
      | item       | warehouse           |
      | FAST-M4-20 | Stores - AC         |
      | NUT-M4     | Stores - AC         |
      | BOX-S      | Main Warehouse - AC |
      | CABLE-USB  | Stores - AC         |
      | LABEL-A6   | Main Warehouse - AC |
    And it orders none of these items, which ERPNext has well above their reorder level:
      | item       | warehouse   |
      | FAST-M6-30 | Stores - AC |
      | WASH-M6    | Stores - AC |
      | PCB-CTRL   | Stores - AC |
      | PSU-12V    | Stores - AC |
    When the CEO approves every purchase order waiting for approval
    Then every purchase order drafted is placed in ERPNext exactly once
    And the order is closed as completed

  Scenario: A parcel damaged on its way is put to the CEO before the tracking goes on
    When the CEO orders "Check stock in every warehouse and reorder what is running low"
    Then the purchase orders at or below EUR 1000 are placed in ERPNext without approval
    When the carrier is to report parcel "EZ3000000003" damaged in transit before delivering it
    And the CEO orders parcel "EZ3000000003" of a purchase order placed without approval tracked
    Then the parcel "EZ3000000003" is followed for that purchase order
    When the carrier moves its parcels one step on
    Then the CEO is asked whether to accept "Package damaged in transit" on parcel "EZ3000000003" and keep following it
    And the tracking task waits for the CEO's decision
    And the logistics API shows parcel "EZ3000000003" held up with the alert "Package damaged in transit"
    When the CEO approves it
    Then the tracking task goes on
    When the carrier moves its parcels one step on
    Then the goods of parcel "EZ3000000003" are received in ERPNext once, against its purchase order
    And the order is closed as completed

  Scenario: A partial delivery keeps the purchase order open until the rest arrives
    When the CEO orders "Check stock in every warehouse and reorder what is running low"
    Then the purchase orders at or below EUR 1000 are placed in ERPNext without approval
    When the CEO orders parcel "EZ4000000004" of a purchase order placed without approval tracked, carrying half of its first line
    Then the parcel "EZ4000000004" is followed for that purchase order
    When the carrier delivers its parcels
    Then the purchase order is partially received, with what parcel "EZ4000000004" carried received in ERPNext and the rest still awaited
    And the order is closed as completed
    When the CEO orders parcel "EZ4000000005" of that purchase order tracked, carrying the rest
    Then the parcel "EZ4000000005" is followed for that purchase order
    When the carrier delivers its parcels
    Then the purchase order is received in full, in one goods receipt per parcel
    And the order is closed as completed
